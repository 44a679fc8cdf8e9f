#!/usr/bin/env bash
# tools/stream_overhead.sh for the shm ring alone, with many more pairs: a shm round trip flips
# between VM phases (about 120 or 400 ns) from run to run, so a few pairs say nothing; 40 pairs
# of 200,000 messages take a minute.
#
#   tools/stream_overhead_shm.sh [PAIRS]
#
# Each pair runs shm round-trip and one-way (64 B, spin, pinned 0,1) with both streams off and
# on, in alternating order. Prints per pattern the median p50 of each mode, the median of the
# per-pair ratios (on / off), and the same over the pairs whose two runs had cache-line floors
# within 25% of each other (one VM phase).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-40}
cargo build --release --quiet
ib="$(realpath "${CARGO_TARGET_DIR:-target}")/release/ipcbench"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
out=$d/all
run() {
  extra=(); [ $1 = on ] && extra=(--stream-json $d/s.jsonl --stream-csv $d/s.csv)
  $ib run -q -t shm -p round-trip,one-way -s 64 -n 200000 --wait spin --pin 0,1 --socket-dir $d --shm-dir /dev/shm --out $d/r.json "${extra[@]}"
  python3 -c "
import json; rs=json.load(open('$d/r.json'))['runs']; print($2, '$1', *[x for r in rs for x in (r['latency_ns']['p50'], r['floor']['cache_line_round_trip_ns'])])" >> $out
}
for ((i=0;i<pairs;i++)); do if ((i%2)); then run on $i; run off $i; else run off $i; run on $i; fi; done
python3 - $out <<'PY'
import statistics as st, sys
rows=[l.split() for l in open(sys.argv[1])]
for j,name in [(0,'shm round-trip'),(1,'shm one-way')]:
    off={r[0]:(int(r[2+2*j]),int(r[3+2*j])) for r in rows if r[1]=='off'}
    on={r[0]:(int(r[2+2*j]),int(r[3+2*j])) for r in rows if r[1]=='on'}
    ratios=[on[k][0]/off[k][0] for k in off]
    same=[on[k][0]/off[k][0] for k in off if abs(on[k][1]/off[k][1]-1)<0.25]
    print(f"{name}: pairs {len(ratios)}, median p50 off {st.median(v[0] for v in off.values())} on {st.median(v[0] for v in on.values())}, "
          f"median on/off {st.median(ratios):.3f}; pairs in one VM phase (floors within 25%): {len(same)}, median on/off {st.median(same):.3f}")
PY
