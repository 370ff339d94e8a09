#!/usr/bin/env bash
# The whole test suite: format check, clippy with -D warnings, every test, and a benchmark smoke run.
# Installs what it needs (rustfmt and clippy components) and starts nothing that outlives it:
# the tests start their own loopback helpers (a webhook receiver) and stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_INCREMENTAL=0

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
read -r passed failed < <(awk '/^test result:/ { for (i = 2; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } } END { print p + 0, f + 0 }' "$log")

echo "== benchmark smoke runs (small estates; full figures: cargo bench -p aegis-dr-core --bench failover,"
echo "   cargo bench -p aegis-dr-provider-kubernetes --bench fanout)"
cargo bench -p aegis-dr-core --bench failover --locked -- 500 20 4 4 5
cargo bench -p aegis-dr-provider-kubernetes --bench fanout --locked -- 100 5 5

echo
echo "tests: ${passed} passed, ${failed} failed"
