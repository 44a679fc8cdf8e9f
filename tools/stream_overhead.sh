#!/usr/bin/env bash
# Does streaming every message to JSON lines and CSV move the latency ipcbench reports?
#
#   tools/stream_overhead.sh [PAIRS] [COUNT]
#
# Runs PAIRS back-to-back pairs (streaming off, streaming on; the order alternates per pair) of
# uds, tcp and shm, round-trip and one-way, 64 B, spin, pinned 0,1, and prints per configuration the
# median p50 of each mode and the median of the per-pair p50 ratios (on / off), which cancels
# the slow drift of a shared machine. The shm rows add the same for p50 over the cache-line floor
# measured right before each run: a VM whose vCPUs move between host cores flips the shm round
# trip between about 120 and 400 ns from one run to the next (the floor flips with it, 65 to
# 320 ns), which a handful of pairs cannot average out; p50/floor can.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-11}
count=${2:-50000}
cargo build --release --quiet
ib="${CARGO_TARGET_DIR:-target}/release/ipcbench"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # $1 = off|on, $2 = pair index
  local extra=()
  [ "$1" = on ] && extra=(--stream-json "$work/s.jsonl" --stream-csv "$work/s.csv")
  "$ib" run -q -t uds,tcp,shm -p round-trip,one-way -s 64 -n "$count" --wait spin --pin 0,1 \
    --socket-dir "$work" --shm-dir /dev/shm --out "$work/r.json" "${extra[@]}"
  echo "$2 $1 $(grep -o '"p50": [0-9]*' "$work/r.json" | grep -o '[0-9]*$' | tr '\n' ' ')" \
    "$(grep -o '"cache_line_round_trip_ns": [0-9]*' "$work/r.json" | grep -o '[0-9]*$' | tr '\n' ' ')" >>"$work/all"
}
for ((i = 0; i < pairs; i++)); do
  if ((i % 2)); then run on "$i"; run off "$i"; else run off "$i"; run on "$i"; fi
done
python3 - "$work/all" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = ["uds round-trip", "uds one-way", "tcp round-trip", "tcp one-way", "shm round-trip", "shm one-way"]
print(f"{'config':<16} {'p50_off_ns':>10} {'p50_on_ns':>10} {'median on/off':>14}")
for i, name in enumerate(names):
    off = {r[0]: int(r[2 + i]) for r in rows if r[1] == "off"}
    on = {r[0]: int(r[2 + i]) for r in rows if r[1] == "on"}
    ratio = statistics.median(on[k] / off[k] for k in off)
    print(f"{name:<16} {statistics.median(off.values()):>10.0f} {statistics.median(on.values()):>10.0f} {ratio:>14.3f}")
# The two pinned shm runs carry floors, after the six p50s.
print(f"{'config':<16} {'p50/floor_off':>13} {'p50/floor_on':>13} {'median on/off':>14}")
for j, (i, name) in enumerate([(4, "shm round-trip"), (5, "shm one-way")]):
    off = {r[0]: int(r[2 + i]) / int(r[8 + j]) for r in rows if r[1] == "off"}
    on = {r[0]: int(r[2 + i]) / int(r[8 + j]) for r in rows if r[1] == "on"}
    ratio = statistics.median(on[k] / off[k] for k in off)
    print(f"{name:<16} {statistics.median(off.values()):>13.2f} {statistics.median(on.values()):>13.2f} {ratio:>14.3f}")
PY
