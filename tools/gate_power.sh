#!/usr/bin/env bash
# Measures the regression gate itself on a busy machine: how often it raises a false alarm on
# a build compared with itself, and how often it catches a build that is 10% slower, for
# `ipcbench ab` (paired, interleaved rounds) and, side by side, for the sequential
# `run` + `run` + `compare` a CI job would do without it.
#
#   tools/gate_power.sh [TRIALS] [ROUNDS] [COUNT]      (defaults 20, 10, 10000)
#
# 1. Builds ipcbench (release) and, with the test-only `inject-delay` feature, a build run as
#    two slowed ones (IPCBENCH_INJECT_NS): one adding 10% of the shm round-trip p50 to every
#    send, one 10% of the uds p50 (both p50s measured here first, under the same load).
# 2. Starts a CPU-hungry background load (one busy loop, by pid, stopped at the end).
# 3. Each trial runs, interleaved: ab A/A, ab A/shm-slowed, ab A/uds-slowed, and the same three
#    as sequential compares (run --repeat ROUNDS twice, then compare). Matrix: uds, tcp, shm;
#    round-trip; 64 B and 4 KiB; spin; pinned 0,1. Gate: --max-regression 5% (p50 and p99).
#    A false alarm is an A/A gate that exits 3 (a regression; 4, undecided, is counted apart); a detection is the slowed transport's p50 judged
#    regressed (its gate fails then too).
# Prints the table and what every false alarm or miss said; GATE_LOG=FILE keeps every trial's
# outcome (and FILE.detail those messages).
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-20}
rounds=${2:-10}
count=${3:-10000}
work=$(mktemp -d)
load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet
cp target/release/ipcbench "$work/a"
cp target/release/ipcbench "$work/a2" # the same build under another name: A/A
matrix=(-t uds,tcp,shm -p round-trip -s 64,4KiB -n "$count" --warmup 500 --wait spin --pin 0,1 --socket-dir "$work")

# The background load, from here to the end.
(while :; do :; done) &
load_pid=$!

# p50 of the 64 B round trip per transport, under the load (median of 5 repetitions).
"$work/a" run -q -t shm,uds -p round-trip -s 64 -n "$count" --repeat 5 --wait spin --pin 0,1 \
  --socket-dir "$work" --out "$work/calibrate.json"
p50_of() {
  python3 - "$work/calibrate.json" "$1" <<'PY'
import json, statistics, sys
runs = json.load(open(sys.argv[1]))["runs"]
print(int(statistics.median(r["latency_ns"]["p50"] for r in runs if r["transport"] == sys.argv[2])))
PY
}
shm_ns=$(( $(p50_of shm) / 10 ))
uds_ns=$(( $(p50_of uds) / 10 ))
[ "$shm_ns" -ge 1 ] || shm_ns=1
echo "calibration under load: shm p50 $(p50_of shm) ns -> inject $shm_ns ns; uds p50 $(p50_of uds) ns -> inject $uds_ns ns"
kill "$load_pid"; load_pid=""   # builds run without the load, so it does not slow them
cargo build --release --quiet --features inject-delay --target-dir target/gate-slow
cp target/gate-slow/release/ipcbench "$work/hooked"
for t in shm uds; do
  ns=$shm_ns; [ "$t" = uds ] && ns=$uds_ns
  printf '#!/bin/sh\nIPCBENCH_INJECT_NS=%s exec "%s" "$@"\n' "$ns" "$work/hooked" >"$work/slow-$t"
  chmod +x "$work/slow-$t"
done
(while :; do :; done) &
load_pid=$!

# Whether the p50 of transport $2 is judged regressed in the ab verdict file $1.
ab_regressed() {
  python3 - "$1" "$2" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
hit = any(c["key"]["series"]["transport"] == sys.argv[2] and ch["metric"] == "p50" and ch["verdict"] == "regressed"
          for c in v["comparisons"] for ch in c["changes"])
print("yes" if hit else "no")
PY
}
# The same from compare's table on stdout (file $1).
cmp_regressed() { grep -E "^$2 round-trip .* p50 .* regressed" "$1" >/dev/null && echo yes || echo no; }

log="$work/gate-power.log"
gate_ab() { # old new tag target
  local start end rc=0
  start=$(date +%s.%N)
  "$work/a" ab "$1" "$2" --rounds "$rounds" --max-regression 5% --quiet --out "$work/ab.json" "${matrix[@]}" \
    2>"$work/ab.err" || rc=$?
  end=$(date +%s.%N)
  case "$rc" in 0 | 3 | 4) ;; *) cat "$work/ab.err" >&2; exit 1 ;; esac
  local hit=-
  [ -n "$4" ] && hit=$(ab_regressed "$work/ab.json" "$4")
  echo "ab $3 exit=$rc hit=$hit seconds=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')" >>"$log"
  # What a false alarm or a miss said, for the record.
  if { [ -z "$4" ] && [ "$rc" != 0 ]; } || [ "$hit" = no ]; then sed 's/^/  | /' "$work/ab.err" >>"$log.detail"; fi
}
gate_seq() { # old new tag target
  local start end rc=0
  start=$(date +%s.%N)
  "$1" run -q "${matrix[@]}" --repeat "$rounds" --out "$work/x.json"
  "$2" run -q "${matrix[@]}" --repeat "$rounds" --out "$work/y.json"
  "$work/a" compare "$work/x.json" "$work/y.json" --max-regression 5% >"$work/cmp.out" 2>"$work/cmp.err" || rc=$?
  end=$(date +%s.%N)
  case "$rc" in 0 | 3 | 4) ;; *) cat "$work/cmp.err" >&2; exit 1 ;; esac
  local hit=-
  [ -n "$4" ] && hit=$(cmp_regressed "$work/cmp.out" "$4")
  echo "seq $3 exit=$rc hit=$hit seconds=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')" >>"$log"
  if { [ -z "$4" ] && [ "$rc" != 0 ]; } || [ "$hit" = no ]; then
    grep -E "regressed|undecided|^configuration" "$work/cmp.out" | sed "s/^/  | seq $3: /" >>"$log.detail" || true
  fi
}

for ((i = 1; i <= trials; i++)); do
  gate_ab "$work/a" "$work/a2" aa ""
  gate_ab "$work/a" "$work/slow-shm" shm shm
  gate_ab "$work/a" "$work/slow-uds" uds uds
  gate_seq "$work/a" "$work/a2" aa ""
  gate_seq "$work/a" "$work/slow-shm" shm shm
  gate_seq "$work/a" "$work/slow-uds" uds uds
  echo "trial $i/$trials done" >&2
done
kill "$load_pid"; load_pid=""
if [ -n "${GATE_LOG:-}" ]; then
  cp "$log" "$GATE_LOG"
  [ -f "$log.detail" ] && cp "$log.detail" "$GATE_LOG.detail"
fi
[ -f "$log.detail" ] && { echo "what the failing or missing gates said:"; cat "$log.detail"; }

python3 - "$log" "$trials" "$rounds" "$count" "$shm_ns" "$uds_ns" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
f = lambda r, k: dict(x.split("=") for x in r[2:])[k]
print(f"{'gate':<32} {'A/A false alarms':>17} {'A/A undecided':>14} {'shm -10% caught':>16} {'uds -10% caught':>16} {'one gate, s':>12}")
for method, name in [("ab", "ipcbench ab (paired)"), ("seq", "run + run + compare (unpaired)")]:
    mine = [r for r in rows if r[0] == method]
    aa = [r for r in mine if r[1] == "aa"]
    alarms = sum(f(r, "exit") == "3" for r in aa)
    undecided = sum(f(r, "exit") == "4" for r in aa)
    caught = {t: sum(f(r, "hit") == "yes" for r in mine if r[1] == t) for t in ("shm", "uds")}
    n = {t: sum(r[1] == t for r in mine) for t in ("shm", "uds")}
    secs = statistics.median(float(f(r, "seconds")) for r in mine)
    print(f"{name:<32} {alarms:>8} of {len(aa):<7} {undecided:>5} of {len(aa):<7} {caught['shm']:>7} of {n['shm']:<6} {caught['uds']:>7} of {n['uds']:<6} {secs:>12.0f}")
print(f"({sys.argv[2]} trials, {sys.argv[3]} rounds (ab) or repetitions (compare) of {sys.argv[4]} round trips; "
      f"gate --max-regression 5%; slowed builds add {sys.argv[5]} ns (shm) and {sys.argv[6]} ns (uds) per send; "
      "uds, tcp, shm x 64 B, 4 KiB round trips, spin, pinned 0,1, one busy loop beside)")
PY
