#!/usr/bin/env bash
# Peak resident memory of both processes of one long streamed run, and whether the streams hold
# every recorded message.
#
#   tools/stream_rss.sh [PATTERN] [SECONDS]      (default: round-trip 60)
#
# Runs `ipcbench run -t shm -p PATTERN -s 64 -d SECONDS --wait spin --pin 0,1` with
# --stream-json and --stream-csv into FIFOs counted by `wc` (a minute of shm spin streams is
# tens of GB of text: nothing lands on disk). Prints the initiator's peak RSS (/usr/bin/time -v),
# the peer's (VmHWM of the `ipcbench peer` child, read every 0.5 s), both files' line and byte
# counts, and the run's received count and samples_dropped: the JSON lines should equal
# received, the CSV one more (its header).
set -u # not -e: the sampling loop probes processes that may be gone
cd "$(dirname "$0")/.."
pattern=${1:-round-trip}
secs=${2:-60}
cargo build --release --quiet
ib="$(realpath "${CARGO_TARGET_DIR:-target}")/release/ipcbench"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
mkfifo "$d/s.jsonl" "$d/s.csv"
(wc -lc <"$d/s.jsonl" >"$d/jsonl.count") &
wj=$!
(wc -lc <"$d/s.csv" >"$d/csv.count") &
wc_=$!
/usr/bin/time -v "$ib" run -q -t shm -p "$pattern" -s 64 -d "${secs}s" --wait spin --pin 0,1 \
  --socket-dir "$d" --shm-dir /dev/shm --out "$d/r.json" \
  --stream-json "$d/s.jsonl" --stream-csv "$d/s.csv" 2>"$d/time.txt" &
timed=$!
peer_kb=0
initiator=""
while kill -0 "$timed" 2>/dev/null; do
  [ -n "$initiator" ] || initiator=$(ps -o pid= --ppid "$timed" | tr -d ' ' | head -1 || true)
  if [ -n "$initiator" ]; then
    for p in $(ps -o pid= --ppid "$initiator" || true); do
      kb=$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
      if [ -n "$kb" ] && [ "$kb" -gt "$peer_kb" ]; then peer_kb=$kb; fi
    done
  fi
  sleep 0.5
done
wait "$timed"
wait "$wj" "$wc_"
echo "initiator peak RSS: $(awk -F': ' '/Maximum resident/ {print $2}' "$d/time.txt") kB"
echo "peer peak RSS:      $peer_kb kB"
echo "JSON lines: $(cat "$d/jsonl.count") (lines bytes)"
echo "CSV rows:   $(cat "$d/csv.count") (lines bytes, with the header)"
python3 - "$d/r.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["runs"]:
    print(f"{r['pattern']}: received {r['integrity']['received']}, samples_dropped {r.get('samples_dropped')}, "
          f"p50 {r['latency_ns']['p50']} ns, {r['throughput']['messages_per_s']:.0f} msg/s")
PY
