#!/usr/bin/env bash
# Measures ipcbench against the minimal C ping-pong (tools/raw_pingpong.c) on this machine.
#
#   tools/compare_raw.sh [ROUNDS] [COUNT]
#   BASELINE=path/to/older/ipcbench tools/compare_raw.sh [ROUNDS] [COUNT]
#
# With BASELINE set, every round also runs that binary right after this one (same flags), and
# the table adds its p50 and the ratio this/baseline: a before/after comparison taken
# interleaved, so both builds see the same machine.
#
# Each round runs, for every transport x wait x size, the raw reference and then ipcbench with
# the same pinning (CPUs 0,1), count and warm-up. Rounds interleave the two so that machine
# noise hits both alike; the table shows the median over rounds of each one's p50 and p99, and
# the ratio of the medians (ipcbench / raw). Needs a C compiler and cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
count=${2:-20000}
warmup=1000
transports=${TRANSPORTS:-"uds tcp"}
waits=${WAITS:-"block spin"}
sizes=${SIZES:-"64 4096"}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/raw_pingpong" tools/raw_pingpong.c
cargo build --release --quiet
ib=target/release/ipcbench

for ((r = 1; r <= rounds; r++)); do
  for t in $transports; do for w in $waits; do for s in $sizes; do
    line=$("$work/raw_pingpong" "$t" "$w" "$s" "$count" "$warmup" 0 1)
    p50=${line#*p50_ns=}; p50=${p50%% *}; p99=${line#*p99_ns=}; p99=${p99%% *}
    echo "$t $w $s raw $p50 $p99" >>"$work/all"
    "$ib" run -q -t "$t" -p round-trip -s "$s" -n "$count" --warmup "$warmup" --wait "$w" --pin 0,1 \
      --socket-dir "$work" --out "$work/ib.json"
    # p50 and p99 of the single run in the summary
    p50=$(grep -o '"p50": [0-9]*' "$work/ib.json" | head -1 | grep -o '[0-9]*$')
    p99=$(grep -o '"p99": [0-9]*' "$work/ib.json" | head -1 | grep -o '[0-9]*$')
    echo "$t $w $s ipcbench $p50 $p99" >>"$work/all"
    if [ -n "${BASELINE:-}" ]; then
      "$BASELINE" run -q -t "$t" -p round-trip -s "$s" -n "$count" --warmup "$warmup" --wait "$w" --pin 0,1 \
        --socket-dir "$work" --out "$work/base.json"
      p50=$(grep -o '"p50": [0-9]*' "$work/base.json" | head -1 | grep -o '[0-9]*$')
      p99=$(grep -o '"p99": [0-9]*' "$work/base.json" | head -1 | grep -o '[0-9]*$')
      echo "$t $w $s baseline $p50 $p99" >>"$work/all"
    fi
  done; done; done
done

median() { sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : int((v[NR/2]+v[NR/2+1])/2)}'; }
extra=""
[ -n "${BASELINE:-}" ] && extra="base_p50_ns  this/base"
printf "%-5s %-6s %-6s %12s %12s %12s %12s %8s  %s\n" transport wait size raw_p50_ns ipc_p50_ns raw_p99_ns ipc_p99_ns p50_ratio "$extra"
for t in $transports; do for w in $waits; do for s in $sizes; do
  pick() { awk -v t="$t" -v w="$w" -v s="$s" -v k="$1" -v c="$2" '$1==t && $2==w && $3==s && $4==k {print $c}' "$work/all" | median; }
  rp50=$(pick raw 5); ip50=$(pick ipcbench 5); rp99=$(pick raw 6); ip99=$(pick ipcbench 6)
  base=""
  if [ -n "${BASELINE:-}" ]; then
    bp50=$(pick baseline 5)
    base=$(printf "%11s  %9s" "$bp50" "$(awk -v a="$ip50" -v b="$bp50" 'BEGIN {printf "%.2f", a / b}')")
  fi
  printf "%-9s %-6s %-6s %12s %12s %12s %12s %8s  %s\n" "$t" "$w" "$s" "$rp50" "$ip50" "$rp99" "$ip99" \
    "$(awk -v a="$ip50" -v b="$rp50" 'BEGIN {printf "%.2f", a / b}')" "$base"
done; done; done
echo "($rounds interleaved rounds of $count round trips each, pinned 0,1; medians over rounds)"
