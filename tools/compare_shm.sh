#!/usr/bin/env bash
# Measures ipcbench's shared-memory transport against its floor on this machine.
#
#   tools/compare_shm.sh [ROUNDS] [COUNT]
#
# Each round runs, interleaved so that machine noise hits all alike:
#   - tools/raw_shm.c ping-pong (one buffer per direction, spin on a sequence number, CPUs 0,1)
#     and ipcbench shm round-trip (--wait spin --pin 0,1), at 64 B and 4 KiB, COUNT messages;
#   - at 64 KiB and 1 MiB, BW_COUNT (default COUNT/50) messages each: single-core memcpy bandwidth, the raw C
#     two-process stream (tools/raw_shm.c stream: producer CPU 0 fills every byte of each slot,
#     consumer CPU 1 reads every byte, in the same ring geometry and slot count as ipcbench's
#     ring), and ipcbench shm throughput, zero-copy and --copy.
# Prints medians over rounds: round trips against the raw ping-pong, and throughput as GB/s with
# the zero-copy/raw-stream ratio and each as a % of one-core memcpy.
#
# Environment:
#   SHM_DIR     where ipcbench maps its rings (default /dev/shm).
#   SHM_SLOTS   slots per ring for the throughput rows, given to both the raw stream and
#               ipcbench (--shm-slots); by default ipcbench's own default for throughput (about
#               4 MiB of slots, 4 to 64: 64 at 64 KiB, 4 at 1 MiB), which the raw stream copies.
#   IB_FLAGS    extra flags appended to every invocation of this build (split on whitespace),
#               e.g. IB_FLAGS="--clock monotonic"; BASE_FLAGS the same for BASELINE (an older
#               build may not know a newer flag).
#   RAW_CLOCK   monotonic (default) or tsc: the clock the raw ping-pong reads.
#   BW_COUNT    messages per throughput run (default COUNT/50); at tens of GB/s a run of a few
#               thousand 64 KiB messages lasts milliseconds, and one hiccup ruins it.
#   BASELINE    path to an older ipcbench binary, also run in every round right after this one,
#               adding its columns: a before/after comparison taken interleaved.
#   CARGO_TARGET_DIR  honoured: this build is $CARGO_TARGET_DIR/release/ipcbench (default target/).
#   NO_BUILD=1  skips `cargo build --release` and uses that binary as it is: build first, then
#               take the benchmark lock only for the measuring (in a git worktree build.rs's
#               rerun-if-changed paths under .git/ do not exist, so every build recompiles).
set -euo pipefail
# Paths the caller gave relative to where it stood, made absolute before the cd below.
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
if [ -n "${CARGO_TARGET_DIR:-}" ]; then CARGO_TARGET_DIR=$(abs "$CARGO_TARGET_DIR"); export CARGO_TARGET_DIR; fi
baseline=${BASELINE:+$(abs "$BASELINE")}
cd "$(dirname "$0")/.."
rounds=${1:-5}
count=${2:-200000}
shm_dir=${SHM_DIR:-/dev/shm}
raw_clock=${RAW_CLOCK:-monotonic}
case $raw_clock in monotonic | tsc) ;; *) echo "RAW_CLOCK must be monotonic or tsc" >&2 && exit 2 ;; esac
read -r -a ib_flags <<<"${IB_FLAGS:-}"
read -r -a base_flags <<<"${BASE_FLAGS:-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -Wall -Wextra -o "$work/raw_shm" tools/raw_shm.c
[ "${NO_BUILD:-}" = 1 ] || cargo build --release --quiet
this="${CARGO_TARGET_DIR:-target}/release/ipcbench"
[ -x "$this" ] || { echo "no $this: build it, or leave NO_BUILD unset" >&2 && exit 2; }
ib() { # binary pattern size [extra flags...]: writes $work/r.json
  local bin=$1 pattern=$2 size=$3
  shift 3
  local extra=(${ib_flags[@]+"${ib_flags[@]}"})
  [ "$bin" = "$this" ] || extra=(${base_flags[@]+"${base_flags[@]}"})
  "$bin" run -q -t shm -p "$pattern" -s "$size" -n "$count" --wait spin --pin 0,1 \
    --socket-dir "$work" --shm-dir "$shm_dir" --out "$work/r.json" "$@" ${extra[@]+"${extra[@]}"}
}
bins=("$this")
[ -n "$baseline" ] && bins+=("$baseline")
who() { [ "$1" = "$this" ] && echo "" || echo "base-"; }
field() { grep -o "\"$1\": [0-9.e+]*" "$work/r.json" | head -1 | awk '{print $2}'; }
# The cache-line floor ipcbench measured right before the run (a build from before issue 22 has
# none: "-"). It tells the VM's phase: ~60-70 ns fast, ~300 ns slow here.
floor_of() { local f; f=$(field cache_line_round_trip_ns); echo "${f:--}"; }
# Slots per ring at a message size: SHM_SLOTS, or ipcbench's throughput default
# (src/config slot_policy: 4 MiB / stride, clamped to 4..64).
slots() {
  local stride=$((($1 + 63) / 64 * 64)) n
  n=${SHM_SLOTS:-$(((4 << 20) / stride))}
  [ -z "${SHM_SLOTS:-}" ] && n=$((n < 4 ? 4 : n > 64 ? 64 : n))
  echo "$n"
}
slot_flags=()
if [ -n "${SHM_SLOTS:-}" ]; then slot_flags=(--shm-slots "$SHM_SLOTS"); fi
bw_count=${BW_COUNT:-$((count / 50))}

for ((r = 1; r <= rounds; r++)); do
  for s in 64 4096; do
    line=$("$work/raw_shm" pingpong "$s" "$count" 1000 0 1 "$raw_clock")
    echo "rt $s raw ${line#*p50_ns=} $r -" | sed 's/ p99_ns=/ /; s/ count=[^ ]*//; s/ clock=[^ ]*//; s/ tsc_ghz=[^ ]*//' >>"$work/all"
    for b in "${bins[@]}"; do
      ib "$b" round-trip "$s"
      echo "rt $s $(who "$b")ipcbench $(field p50) $(field p99) $r $(floor_of)" >>"$work/all"
    done
  done
  for s in 65536 1048576; do
    line=$("$work/raw_shm" memcpy "$s" 0)
    echo "bw $s memcpy ${line#*bytes_per_s=}" >>"$work/all"
    line=$("$work/raw_shm" stream "$s" "$(slots "$s")" "$bw_count" 0 1)
    echo "bw $s stream ${line#*bytes_per_s=}" | sed 's/ count=.*//' >>"$work/all"
    for b in "${bins[@]}"; do
      ib "$b" throughput "$s" -n "$bw_count" ${slot_flags[@]+"${slot_flags[@]}"}
      echo "bw $s $(who "$b")zero-copy $(field bytes_per_s)" >>"$work/all"
      ib "$b" throughput "$s" -n "$bw_count" --copy ${slot_flags[@]+"${slot_flags[@]}"}
      echo "bw $s $(who "$b")copy $(field bytes_per_s)" >>"$work/all"
    done
  done
done

python3 - "$work/all" "$rounds" "$raw_clock" "${IB_FLAGS:-}" "$(slots 65536),$(slots 1048576)" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda kind, size, who, col: statistics.median(float(r[col]) for r in rows if r[:3] == [kind, size, who])
print("round trip, ns (median of p50s and of p99s over rounds)")
print(f"{'size':>7} {'raw p50':>8} {'ipc p50':>8} {'ratio':>6} {'raw p99':>8} {'ipc p99':>8}")
for s in ["64", "4096"]:
    rp, ip = med("rt", s, "raw", 3), med("rt", s, "ipcbench", 3)
    print(f"{s:>7} {rp:>8.0f} {ip:>8.0f} {ip / rp:>6.2f} {med('rt', s, 'raw', 4):>8.0f} {med('rt', s, 'ipcbench', 4):>8.0f}")
floors = [r for r in rows if r[:2] == ["rt", "64"] and r[2] == "ipcbench" and len(r) > 6 and r[6] != "-"]
if floors:
    print("per round (64 B): the cache-line floor ipcbench measured right before its run tells the phase")
    print(f"{'round':>5} {'floor':>6} {'raw p50':>8} {'ipc p50':>8} {'ipc/raw':>8} {'ipc/floor':>9} {'raw/floor':>9}")
    for r in floors:
        raw = next(x for x in rows if x[:3] == ["rt", "64", "raw"] and x[5] == r[5])
        f, i, w = float(r[6]), float(r[3]), float(raw[3])
        print(f"{r[5]:>5} {f:>6.0f} {w:>8.0f} {i:>8.0f} {i / w:>8.2f} {i / f:>9.2f} {w / f:>9.2f}")
print("throughput, GB/s (median over rounds); zc/raw = zero-copy / raw stream; % = of one-core memcpy")
print(f"{'size':>7} {'memcpy':>8} {'raw':>8} {'zero-copy':>10} {'zc/raw':>7} {'raw %':>7} {'zc %':>7} {'--copy':>8}")
for s in ["65536", "1048576"]:
    m, st, z, c = (med("bw", s, w, 3) / 1e9 for w in ["memcpy", "stream", "zero-copy", "copy"])
    print(f"{s:>7} {m:>8.1f} {st:>8.1f} {z:>10.1f} {z / st:>7.2f} {st / m:>7.0%} {z / m:>7.0%} {c:>8.1f}")
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
flags = f"; IB_FLAGS={sys.argv[4]}" if sys.argv[4] else ""  # BASELINE took BASE_FLAGS
print(f"({sys.argv[2]} interleaved rounds; pinned 0,1; spin; raw ping-pong clock={sys.argv[3]}; "
      f"stream slots at 64 KiB,1 MiB={sys.argv[5]}{flags})")
PY
