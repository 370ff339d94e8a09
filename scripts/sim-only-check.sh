#!/usr/bin/env bash
# Checks a binary built with --no-default-features (the path is the first argument): the registry
# says AWS, Azure, GCP and Kubernetes are not in the build, a drill of the example plan succeeds on the
# simulated estate, and a plan on AWS is refused with exit 2 naming the cargo feature to enable.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "sim-only check failed: $*" >&2; exit 1; }

"$bin" providers >"$tmp/providers"
grep -Eq '^aws +not in this build' "$tmp/providers" || fail "aws is listed as built in: $(cat "$tmp/providers")"
grep -Eq '^kubernetes +not in this build' "$tmp/providers" || fail "kubernetes is listed as built in"
grep -Eq '^azure +not in this build' "$tmp/providers" || fail "azure is listed as built in"
grep -Eq '^gcp +not in this build' "$tmp/providers" || fail "gcp is listed as built in"
grep -Eq '^sim +built in' "$tmp/providers" || fail "sim is not built in"
"$bin" --version | grep -q 'providers: sim)' || fail "--version names other providers: $("$bin" --version)"

"$bin" --config examples/aegis.toml --state-dir "$tmp/state" drill --yes --output json >"$tmp/drill.json" 2>"$tmp/drill.err" \
  || fail "the drill of examples/aegis.toml failed: $(cat "$tmp/drill.err")"
grep -q '"status": "succeeded"' "$tmp/drill.json" || fail "the drill did not succeed"

rc=0
"$bin" --config examples/aws.toml --state-dir "$tmp/state" check >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] || fail "a plan on AWS exited $rc, not 2: $(cat "$tmp/err")"
grep -q 'rebuild with the `aws` cargo feature' "$tmp/err" || fail "the error does not name the feature: $(cat "$tmp/err")"
echo "sim-only build: providers listed (and in --version), drill succeeded, a plan on AWS refused naming the feature"
