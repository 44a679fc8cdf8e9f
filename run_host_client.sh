#!/usr/bin/env bash
# Runs the ipcbench host coordinator against the client container started by
# run_container_server.sh, over the bind-mounted ./sockets directory.
#
#   ./run_host_client.sh MSG_COUNT MSG_SIZE CONCURRENCY
#
# Environment: DURATION (e.g. 5s; overrides MSG_COUNT), TRANSPORT (default all), PATTERN
# (default round-trip,one-way), WAIT (default block), PIN (e.g. 0,1), OUTPUT_FILE (default
# output/host-<time>.json), STREAM_JSON, STREAM_CSV, HOST_ARGS (more ipcbench flags, e.g.
# "--notify eventfd"), IPCBENCH_BIN (the host's binary, default target/release/ipcbench), ENGINE,
# IPCBENCH_CONTAINER.
set -euo pipefail
cd "$(dirname "$0")"
usage() {
  echo "usage: $0 MSG_COUNT MSG_SIZE CONCURRENCY   (env: DURATION TRANSPORT PATTERN WAIT PIN OUTPUT_FILE STREAM_JSON STREAM_CSV)" >&2
  exit 2
}
[ $# -eq 3 ] || usage
count=$1 size=$2 concurrency=$3
[[ "$count" =~ ^[0-9]+$ && "$concurrency" =~ ^[0-9]+$ ]] || usage

if ! ./run_container_server.sh status >/dev/null 2>&1; then
  echo "error: the client container is not running: start it with ./run_container_server.sh start" >&2
  exit 1
fi
bin=${IPCBENCH_BIN:-target/release/ipcbench}
[ -x "$bin" ] || cargo build --release --quiet --bin ipcbench
out=${OUTPUT_FILE:-output/host-$(date -u +%Y%m%dT%H%M%S).json}
args=(host --transport "${TRANSPORT:-all}" --pattern "${PATTERN:-round-trip,one-way}" --size "$size"
  --concurrency "$concurrency" --wait "${WAIT:-block}" --socket-dir sockets --out "$out" --client-timeout-s 30)
if [ -n "${DURATION:-}" ]; then args+=(--duration "$DURATION"); else args+=(--count "$count"); fi
[ -n "${PIN:-}" ] && args+=(--pin "$PIN")
[ -n "${STREAM_JSON:-}" ] && args+=(--stream-json "$STREAM_JSON")
[ -n "${STREAM_CSV:-}" ] && args+=(--stream-csv "$STREAM_CSV")
# shellcheck disable=SC2206
[ -n "${HOST_ARGS:-}" ] && args+=(${HOST_ARGS})
"$bin" "${args[@]}"
echo "summary: $out"
[ -n "${STREAM_JSON:-}" ] && echo "per-message JSON lines: $STREAM_JSON"
[ -n "${STREAM_CSV:-}" ] && echo "per-message CSV: $STREAM_CSV"
exit 0
