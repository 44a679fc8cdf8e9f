#!/usr/bin/env bash
# Each middleware library beside the raw mechanism under it, measured the same way, in rotated
# order: the table of docs/middleware.md.
#
#   tools/compare_middleware.sh [ROUNDS] [COUNT]        (default 5 rounds of 20,000 messages)
#   KINDS="uds zeromq" tools/compare_middleware.sh 3     some kinds only
#   PARTS=fan tools/compare_middleware.sh                  some parts only (rt, bw, fan)
#
# Builds the release binary with every middleware feature (FEATURES, default `middleware`).
# Every round runs each kind once, the kinds in a different order each round (rotated by one),
# so that a slow phase of the VM falls on a different kind each time:
#   - round trip, 64 B and 4 KiB, spin and block, pinned 0,1 (p50, p99, CPU per message of both
#     processes together, every thread counted: a library's own threads are not pinned);
#   - throughput, 64 KiB, spin, pinned 0,1 (bytes/s);
#   - fan-out to 1, 4 and 16 subscribers, 64 B, block (p50 of a subscriber's delivery), for the
#     kinds with publish-subscribe (FANOUT_KINDS).
# Prints medians over rounds, and each library's ratio to its mechanism (MECH: kind=mechanism).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
count=${2:-20000}
features=${FEATURES-middleware}
kinds=${KINDS:-"uds zeromq grpc-uds zenoh tcp zeromq-tcp zenoh-tcp shm zenoh-shm iceoryx2"}
fanout_kinds=${FANOUT_KINDS:-"uds zeromq zenoh shm zenoh-shm iceoryx2"}
parts=${PARTS:-"rt bw fan"}
for p in $parts; do
  case $p in rt | bw | fan) ;; *) echo "error: PARTS: unknown part '$p' (rt, bw, fan)" >&2 && exit 2 ;; esac
done
mech=${MECH:-"zeromq=uds grpc-uds=uds zenoh=uds zeromq-tcp=tcp zenoh-tcp=tcp zenoh-shm=shm iceoryx2=shm"}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release --quiet --features "$features"
ib="$(realpath "${CARGO_TARGET_DIR:-target}")/release/ipcbench"
common=(-q --socket-dir "$work/s" --shm-dir /dev/shm --warmup 1000)
mkdir -p "$work/s" "$work/r"

# A run that fails is counted and reported, not fatal: the table's rounds column then shows it,
# and the runs of that invocation that finished before the failure are still in its file.
failed=()
measure() {
  local name=$1
  shift
  if ! "$ib" run "${common[@]}" "$@" --out "$work/r/$name.json"; then
    failed+=("$name")
  fi
}

read -r -a list <<<"$kinds"
n=${#list[@]}
for ((r = 0; r < rounds; r++)); do
  for ((i = 0; i < n; i++)); do
    k=${list[$(((i + r) % n))]}
    echo "round $((r + 1))/$rounds: $k" >&2
    if [[ " $parts " == *" rt "* ]]; then
      measure "$k-$r-rt" -t "$k" -p round-trip -s 64,4KiB -n "$count" --wait spin,block --pin 0,1
    fi
    if [[ " $parts " == *" bw "* ]]; then
      measure "$k-$r-bw" -t "$k" -p throughput -s 64KiB -n "$count" --wait spin --pin 0,1
    fi
    if [[ " $parts " == *" fan "* && " $fanout_kinds " == *" $k "* ]]; then
      measure "$k-$r-fan" -t "$k" -p fan-out --subscribers 1,4,16 -s 64 -n $((count / 4)) --wait block
    fi
  done
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "failed runs (${#failed[@]}): ${failed[*]}" >&2
fi
MECH="$mech" KINDS="$kinds" python3 - "$work/r" <<'EOF'
import json, os, sys, statistics
from collections import defaultdict

rows = defaultdict(list)
for name in sorted(n for n in os.listdir(sys.argv[1]) if n.endswith(".json")):
    try:
        runs = json.load(open(os.path.join(sys.argv[1], name)))["runs"]
    except (OSError, ValueError, KeyError):
        continue
    for r in runs:
        cpu = r.get("cpu") or {}
        # Both processes, every thread: a library's own threads are part of what it costs.
        cpu_ns = sum((cpu.get(s) or {}).get("process_cpu_ns_per_message", 0) for s in ("initiator", "peer"))
        subs = (r.get("fan_out") or {}).get("subscribers")
        key = (r["transport"], r["pattern"], r["size_bytes"], r["wait"], subs)
        lat = r.get("latency_ns") or {}
        rows[key].append((lat.get("p50"), lat.get("p99"), cpu_ns, r["throughput"]["bytes_per_s"]))

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None

def agg(key):
    v = rows.get(key)
    if not v:
        return None
    return [med([x[i] for x in v]) for i in range(4)] + [len(v)]

mech = dict(kv.split("=") for kv in os.environ["MECH"].split())
kinds = os.environ["KINDS"].split()
size = lambda b: f"{b // 1024} KiB" if b >= 1024 else f"{b} B"
fmt = lambda x: "-" if x is None else f"{x:,.0f}"
ratio = lambda a, b: "-" if a is None or b in (None, 0) else f"{a / b:.2f}"

print("| kind | under it | size | wait | p50 ns | p99 ns | process CPU/msg ns | p50 / mechanism | rounds |")
print("|---|---|---|---|---:|---:|---:|---:|---:|")
for k in kinds:
    for s in (64, 4096):
        for w in ("spin", "block"):
            a = agg((k, "round-trip", s, w, None))
            if not a:
                continue
            m = mech.get(k)
            b = agg((m, "round-trip", s, w, None)) if m else None
            print(f"| {k} | {m or '-'} | {size(s)} | {w} | {fmt(a[0])} | {fmt(a[1])} | {fmt(a[2])} | {ratio(a[0], b and b[0])} | {a[4]} |")
print()
print("| kind | under it | 64 KiB throughput MB/s | / mechanism |")
print("|---|---|---:|---:|")
for k in kinds:
    a = agg((k, "throughput", 65536, "spin", None))
    if not a:
        continue
    m = mech.get(k)
    b = agg((m, "throughput", 65536, "spin", None)) if m else None
    print(f"| {k} | {m or '-'} | {fmt(a[3] / 1e6)} | {ratio(a[3], b and b[3])} |")
print()
print("| kind | fan-out p50 ns, N=1 | N=4 | N=16 | rounds (N=1, 4, 16) |")
print("|---|---:|---:|---:|---:|")
for k in kinds:
    cells = [agg((k, "fan-out", 64, "block", n)) for n in (1, 4, 16)]
    if any(cells):
        done = ", ".join(str(c[4] if c else 0) for c in cells)
        print(f"| {k} | " + " | ".join(fmt(c and c[0]) for c in cells) + f" | {done} |")
EOF
