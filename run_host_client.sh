#!/usr/bin/env bash
# Runs the ipcbench host coordinator against the client container started by
# run_container_server.sh, over the bind-mounted ./sockets directory.
#
#   ./run_host_client.sh MSG_COUNT MSG_SIZE CONCURRENCY
#
# Environment:
#   DURATION      e.g. 5s; overrides MSG_COUNT
#   TRANSPORT     default: default (uds,tcp,shm); all is every mechanism the build has
#   PATTERN       default round-trip,one-way
#   WAIT          default block
#   PIN           A,B: this side on CPU A, the container on CPU B; `none`: unpinned. Default:
#                 the first two CPUs this shell may use, when there are two and one pair runs
#                 (unpinned, both sides could share one CPU). It prints the placement used.
#   OUTPUT_FILE   default output/ipcbench-host-<UTC time>.json, the binary's own naming with
#                 "-host" (e.g. output/ipcbench-host-2026-12-03T080358.json)
#   STREAM_JSON, STREAM_CSV   per-message files
#   HOST_ARGS     more ipcbench flags, e.g. "--notify eventfd"; a --pin or --pin-pairs there
#                 replaces PIN
#   IPCBENCH_BIN  the host's binary, default target/release/ipcbench
#   ENGINE, IPCBENCH_CONTAINER   as for run_container_server.sh
#
# It writes the result files and nothing else on the host (and builds target/release/ipcbench
# when it is missing).
set -euo pipefail
cd "$(dirname "$0")"
usage() {
  echo "usage: $0 MSG_COUNT MSG_SIZE CONCURRENCY   (env: DURATION TRANSPORT PATTERN WAIT PIN OUTPUT_FILE STREAM_JSON STREAM_CSV HOST_ARGS)" >&2
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
# The binary's default name is output/ipcbench-<UTC time, RFC 3339 without colons>.json
# (src/config/mod.rs): the same stamp here, after "ipcbench-host-"; a second run within the
# same second gets -2, -3, ... rather than overwriting the first.
if [ -n "${OUTPUT_FILE:-}" ]; then
  out=$OUTPUT_FILE
else
  mkdir -p output
  base=output/ipcbench-host-$(date -u +%Y-%m-%dT%H%M%S)
  out=$base.json n=2
  while [ -e "$out" ]; do out=$base-$n.json n=$((n + 1)); done
fi
args=(host --transport "${TRANSPORT:-default}" --pattern "${PATTERN:-round-trip,one-way}" --size "$size"
  --concurrency "$concurrency" --wait "${WAIT:-block}" --socket-dir sockets --out "$out" --client-timeout-s 30)
if [ -n "${DURATION:-}" ]; then args+=(--duration "$DURATION"); else args+=(--count "$count"); fi

# Placement: unpinned, both sides may share one CPU and the run says nothing of it. So pin
# this side and the container's to two CPUs unless told otherwise.
allowed_cpus() { # the CPUs this shell may run on, one a line ("0-2,4" -> 0 1 2 4)
  local range
  for range in $(sed -n 's/^Cpus_allowed_list:\s*//p' /proc/self/status | tr ',' ' '); do
    seq "${range%-*}" "${range#*-}"
  done
}
placement=
if [[ " ${HOST_ARGS:-} " =~ [[:space:]]--pin(-pairs)?[[:space:]=] ]]; then
  flag=${BASH_REMATCH[0]//[[:space:]=]/}
  placement="as $flag in HOST_ARGS says"
elif [ "${PIN:-}" = none ]; then
  placement="unpinned (PIN=none): the scheduler may put both sides on one CPU"
elif [[ "${PATTERN:-}" =~ fan-out|fan-in|many-clients ]]; then
  placement="unpinned: fan-out, fan-in and many-clients run a process per peer (HOST_ARGS=\"--pin A,B,C...\" pins each)"
elif [ -n "${PIN:-}" ]; then
  [[ "$PIN" =~ ^[0-9]+,[0-9]+$ ]] || { echo "error: PIN is A,B (this side's CPU, the container's) or none, not '$PIN'" >&2; exit 2; }
  args+=(--pin "$PIN")
  placement="this side on CPU ${PIN%%,*}, the container on CPU ${PIN#*,} (PIN)"
else
  mapfile -t cpus < <(allowed_cpus)
  if [ "${#cpus[@]}" -lt 2 ]; then
    placement="unpinned: one CPU (${cpus[*]}), both sides share it"
  elif [ "$concurrency" -gt 1 ]; then
    placement="unpinned: $concurrency pairs would share one CPU per side (PIN=A,B pins them so)"
  else
    args+=(--pin "${cpus[0]},${cpus[1]}")
    placement="this side on CPU ${cpus[0]}, the container on CPU ${cpus[1]} (default; PIN=A,B or PIN=none to change)"
  fi
fi
echo "placement: $placement"

[ -n "${STREAM_JSON:-}" ] && args+=(--stream-json "$STREAM_JSON")
[ -n "${STREAM_CSV:-}" ] && args+=(--stream-csv "$STREAM_CSV")
# shellcheck disable=SC2206
[ -n "${HOST_ARGS:-}" ] && args+=(${HOST_ARGS})
"$bin" "${args[@]}"
echo "summary: $out"
[ -n "${STREAM_JSON:-}" ] && echo "per-message JSON lines: $STREAM_JSON"
[ -n "${STREAM_CSV:-}" ] && echo "per-message CSV: $STREAM_CSV"
exit 0
