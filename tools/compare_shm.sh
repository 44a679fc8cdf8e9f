#!/usr/bin/env bash
# Measures ipcbench's shared-memory transport against its floor on this machine.
#
#   tools/compare_shm.sh [ROUNDS] [COUNT]
#
# Each round runs, interleaved so that machine noise hits all alike:
#   - tools/raw_shm.c ping-pong (one buffer per direction, spin on a sequence number, CPUs 0,1)
#     and ipcbench shm round-trip (--wait spin --pin 0,1), at 64 B and 4 KiB;
#   - single-core memcpy bandwidth and ipcbench shm throughput, zero-copy and --copy, at
#     64 KiB and 1 MiB.
# Prints medians over rounds. SHM_DIR (default /dev/shm) is where ipcbench maps its rings.
# BASELINE=path/to/older/ipcbench also runs that binary in every round, right after this one,
# and adds its columns: a before/after comparison taken interleaved.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
count=${2:-200000}
shm_dir=${SHM_DIR:-/dev/shm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/raw_shm" tools/raw_shm.c
cargo build --release --quiet
ib() { # binary pattern size [extra flags...]: writes $work/r.json
  local bin=$1 pattern=$2 size=$3
  shift 3
  "$bin" run -q -t shm -p "$pattern" -s "$size" -n "$count" --wait spin --pin 0,1 \
    --socket-dir "$work" --shm-dir "$shm_dir" --out "$work/r.json" "$@"
}
bins="target/release/ipcbench${BASELINE:+ $BASELINE}"
who() { [ "$1" = target/release/ipcbench ] && echo "" || echo "base-"; }
field() { grep -o "\"$1\": [0-9.e+]*" "$work/r.json" | head -1 | awk '{print $2}'; }

for ((r = 1; r <= rounds; r++)); do
  for s in 64 4096; do
    line=$("$work/raw_shm" pingpong "$s" "$count" 1000 0 1)
    echo "rt $s raw ${line#*p50_ns=}" | sed 's/ p99_ns=/ /; s/ count=.*//' >>"$work/all"
    for b in $bins; do
      ib "$b" round-trip "$s"
      echo "rt $s $(who "$b")ipcbench $(field p50) $(field p99)" >>"$work/all"
    done
  done
  for s in 65536 1048576; do
    line=$("$work/raw_shm" memcpy "$s" 0)
    echo "bw $s memcpy ${line#*bytes_per_s=}" >>"$work/all"
    for b in $bins; do
      ib "$b" throughput "$s" -n $((count / 50))
      echo "bw $s $(who "$b")zero-copy $(field bytes_per_s)" >>"$work/all"
      ib "$b" throughput "$s" -n $((count / 50)) --copy
      echo "bw $s $(who "$b")copy $(field bytes_per_s)" >>"$work/all"
    done
  done
done

python3 - "$work/all" "$rounds" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda kind, size, who, col: statistics.median(float(r[col]) for r in rows if r[:3] == [kind, size, who])
print("round trip, ns (median of p50s and of p99s over rounds)")
print(f"{'size':>7} {'raw p50':>8} {'ipc p50':>8} {'ratio':>6} {'raw p99':>8} {'ipc p99':>8}")
for s in ["64", "4096"]:
    rp, ip = med("rt", s, "raw", 3), med("rt", s, "ipcbench", 3)
    print(f"{s:>7} {rp:>8.0f} {ip:>8.0f} {ip / rp:>6.2f} {med('rt', s, 'raw', 4):>8.0f} {med('rt', s, 'ipcbench', 4):>8.0f}")
print("throughput, GB/s (median over rounds)")
print(f"{'size':>7} {'memcpy':>8} {'zero-copy':>10} {'of memcpy':>10} {'--copy':>8}")
for s in ["65536", "1048576"]:
    m, z, c = (med("bw", s, w, 3) / 1e9 for w in ["memcpy", "zero-copy", "copy"])
    print(f"{s:>7} {m:>8.1f} {z:>10.1f} {z / m:>9.0%} {c:>8.1f}")
if any(r[2].startswith("base-") for r in rows):
    print("before/after: this build against BASELINE, medians over the same rounds")
    print(f"{'what':>22} {'baseline':>10} {'this':>10} {'this/base':>10}")
    for s in ["64", "4096"]:
        for col, name in [(3, "p50"), (4, "p99")]:
            b, t = med("rt", s, "base-ipcbench", col), med("rt", s, "ipcbench", col)
            print(f"{'rt ' + s + ' B ' + name + ' ns':>22} {b:>10.0f} {t:>10.0f} {t / b:>10.2f}")
    for s in ["65536", "1048576"]:
        for w in ["zero-copy", "copy"]:
            b, t = med("bw", s, "base-" + w, 3) / 1e9, med("bw", s, w, 3) / 1e9
            print(f"{'bw ' + s + ' ' + w + ' GB/s':>22} {b:>10.1f} {t:>10.1f} {t / b:>10.2f}")
print(f"({sys.argv[2]} interleaved rounds; pinned 0,1; spin)")
PY
