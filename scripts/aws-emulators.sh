#!/usr/bin/env bash
# Installs, starts and stops the AWS emulators the AWS tests run against, all on loopback:
#   LocalStack community (Route 53, EC2, CloudWatch, STS, and S3 for the state store tests) on 127.0.0.1:4566,
#   moto server (RDS, Auto Scaling) on 127.0.0.1:5000.
# DRS and EKS node groups have no emulator: the tests start `crates/aws-sim` themselves.
#
#   scripts/aws-emulators.sh install   # Python 3.13 venv in .ci/.venv with pinned packages
#   scripts/aws-emulators.sh start     # starts both, waits until they answer, writes .ci/emulators.env
#   scripts/aws-emulators.sh stop      # stops both
set -euo pipefail
cd "$(dirname "$0")/.."

venv=".ci/.venv"            # LocalStack (it vendors its own moto fork, so moto gets a venv of its own)
moto_venv=".ci/.venv-moto"  # moto server and the aws CLI used by the benchmark
run=".ci/emulators"
localstack_port="${AEGIS_LOCALSTACK_PORT:-4566}"
moto_port="${AEGIS_MOTO_PORT:-5000}"

find_python() {
  local py
  if command -v pyenv >/dev/null 2>&1 && PYENV_VERSION=3.13.0 pyenv which python3 >/dev/null 2>&1; then
    py="$(PYENV_VERSION=3.13.0 pyenv which python3)"
  elif [ -x "$HOME/.pyenv/versions/3.13.0/bin/python3" ]; then
    py="$HOME/.pyenv/versions/3.13.0/bin/python3"
  else
    echo "aws-emulators: Python 3.13 not found (LocalStack needs >= 3.12); install it with pyenv" >&2
    exit 1
  fi
  echo "$py"
}

install() {
  if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import localstack' 2>/dev/null; }; then
    "$(find_python)" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      'localstack-core[runtime]==2026.3.0' 'cbor2<6' 'cryptography<44' 'pyopenssl==24.2.1' flask flask-cors
  fi
  if ! { [ -x "$moto_venv/bin/python" ] && "$moto_venv/bin/python" -c 'import moto, awscli' 2>/dev/null; }; then
    "$(find_python)" -m venv "$moto_venv"
    "$moto_venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5' 'awscli==1.44.62'
  fi
}

wait_for() { # name url
  local i
  for i in $(seq 1 240); do
    if curl -fsS -o /dev/null "$2" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "aws-emulators: $1 did not answer at $2 within 120 s; its log:" >&2
  tail -n 50 "$run/$1.log" >&2 || true
  return 1
}

start() {
  install
  mkdir -p "$run"
  stop_quiet
  (
    export GATEWAY_SERVER=hypercorn GATEWAY_LISTEN="127.0.0.1:$localstack_port" \
      SERVICES=route53,ec2,cloudwatch,sts,iam,s3 LOCALSTACK_HOST="127.0.0.1:$localstack_port" \
      DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
      LOCALSTACK_VOLUME_DIR="$PWD/$run/localstack-volume" FILESYSTEM_ROOT="$PWD/$run/localstack-fs"
    exec setsid "$venv/bin/python" scripts/localstack_server.py >"$run/localstack.log" 2>&1
  ) &
  echo $! >"$run/localstack.pid"
  # Multi-AZ failovers and Aurora switchovers take 2 s here (minutes on AWS): long enough for the tests
  # to observe them mid-operation on a loaded CI machine.
  AEGIS_MOTO_FAILOVER_SECONDS="${AEGIS_MOTO_FAILOVER_SECONDS:-2}" \
    setsid "$moto_venv/bin/python" scripts/moto_server.py -H 127.0.0.1 -p "$moto_port" >"$run/moto.log" 2>&1 &
  echo $! >"$run/moto.pid"
  wait_for localstack "http://127.0.0.1:$localstack_port/_localstack/health"
  wait_for moto "http://127.0.0.1:$moto_port/moto-api/"
  cat >"$run/env" <<ENV
export AEGIS_TEST_LOCALSTACK=http://127.0.0.1:$localstack_port
export AEGIS_TEST_MOTO=http://127.0.0.1:$moto_port
export AEGIS_TEST_AWSCLI=$PWD/$moto_venv/bin/aws
ENV
  echo "aws-emulators: LocalStack on :$localstack_port, moto on :$moto_port"
}

stop_quiet() {
  local name pid
  for name in localstack moto; do
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
  stop) stop_quiet; echo "aws-emulators: stopped" ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
