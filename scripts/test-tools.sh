#!/usr/bin/env bash
# The programs the tests drive that are not Rust crates: Debian's `chromium` (HTML reports rendered
# in a real browser), `prometheus` (Prometheus hooks against a real server) and a `kubectl` (the
# Kubernetes API simulator checked by a client no one here wrote; Debian's `kubernetes-client` when
# the machine has none) and Debian's `azure-cli` (`az`, which checks the Azure ARM simulator). The tests start and stop their own instances; nothing here runs a service.
#   scripts/test-tools.sh install   install what is missing (apt-get, as root or through sudo)
#   scripts/test-tools.sh check     fail naming what is still missing
set -euo pipefail

missing() {
  local pkgs=()
  command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
  command -v prometheus >/dev/null 2>&1 || pkgs+=(prometheus)
  command -v kubectl >/dev/null 2>&1 || pkgs+=(kubernetes-client)
  command -v az >/dev/null 2>&1 || pkgs+=(azure-cli)
  echo "${pkgs[@]:-}"
}

case "${1:-}" in
  install)
    read -r -a pkgs <<<"$(missing)"
    if [ "${#pkgs[@]}" -eq 0 ]; then
      echo "chromium, prometheus, kubectl and az are installed"
      exit 0
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
    ;;
  check)
    m="$(missing)"
    if [ -n "$m" ]; then
      echo "missing test tools (Debian packages): $m" >&2
      exit 1
    fi
    echo "chromium: $(chromium --version 2>/dev/null | head -1)"
    echo "prometheus: $(prometheus --version 2>&1 | head -1)"
    echo "kubectl: $(kubectl version --client 2>/dev/null | head -1)"
    echo "az: $(az version --output tsv 2>/dev/null | head -1 | cut -f1)"
    ;;
  *)
    echo "usage: $0 install|check" >&2
    exit 2
    ;;
esac
