#!/usr/bin/env bash
# A soak: does either side of ipcbench grow (memory, descriptors) over a long mixed matrix?
#
#   tools/soak.sh MINUTES [EVERY_S]
#
# Until MINUTES have passed, round after round: for every transport this build has, one test
# with `ipcbench run` (its own peer) and one with `ipcbench host` and fresh `ipcbench client`s,
# so the peer and the clients are restarted between tests. A test is every pattern the
# transport supports (round-trip, one-way, throughput at block and spin waits; fan-out, fan-in
# and many-clients with 2 peers where supported) at 64 B and 4 KiB, 1 s per run.
#
# While a test runs, both sides are read four times a second: resident memory (VmRSS) and open
# descriptors (/proc/PID/fd) of the initiator and of the peer (with several peer processes,
# the largest of them); every EVERY_S seconds (default 30) one line shows them. At the end, per
# test and side: the peak memory (max_rss_bytes of its result) and the descriptors it holds
# through its runs (the count seen most often) in the first round against the last, the peak's
# growth from a process's first run to its last, and what is left in the socket directory,
# /dev/shm and /dev/mqueue. Exits 1 if a test holds more descriptors in the last round than in
# the first, or later in a test than early on, if something was left behind, or a test failed.
#
# IPCBENCH_BIN: the binary to soak (default: a release build of this tree); SOAK_TRANSPORTS:
# a comma-separated subset of the transports (default: all of this build's).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:?usage: tools/soak.sh MINUTES [EVERY_S]}
every=${2:-30}
if [ -z "${IPCBENCH_BIN:-}" ]; then
  cargo build --release --quiet
  IPCBENCH_BIN="${CARGO_TARGET_DIR:-target}/release/ipcbench"
fi
ib=$IPCBENCH_BIN
work=$(mktemp -d)
sockets=$work/sockets
mkdir -m 700 "$sockets"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
leftovers() { # files ipcbench could leave: socket dir, /dev/shm, /dev/mqueue
  { ls -A "$sockets"; ls /dev/shm | grep -i ipcbench; ls /dev/mqueue 2>/dev/null | grep -i ipcbench; } | wc -l || true
}
left_before=$(leftovers)

# The transports this build has, as a run of all of them reports them.
"$ib" run -q -t all -p round-trip -s 64 -n 10 --min-time 0s --socket-dir "$sockets" --out "$work/t.json"
mapfile -t transports < <([ -n "${SOAK_TRANSPORTS:-}" ] && tr , '\n' <<<"$SOAK_TRANSPORTS" || python3 -c 'import json,sys; print(*(r["transport"] for r in json.load(open(sys.argv[1]))["runs"]), sep="\n")' "$work/t.json")
declare -A groups # transport -> "-p <the group patterns it supports> <their peer-count flags>"
for t in "${transports[@]}"; do
  ok=() flags=()
  for p in fan-out:--subscribers fan-in:--publishers many-clients:--clients; do
    if "$ib" run -q -t "$t" -p "${p%:*}" "${p#*:}" 2 -s 64 -n 10 --min-time 0s --socket-dir "$sockets" \
      --out "$work/t.json" 2>/dev/null; then ok+=("${p%:*}") flags+=("${p#*:} 2"); fi
  done
  [ ${#ok[@]} = 0 ] || groups[$t]="-p $(IFS=,; echo "${ok[*]}") ${flags[*]}"
done
echo "soak: ${minutes} min over ${transports[*]}; a line every ${every}s; $(nproc) CPUs"

# A process may end between two reads: then it reads as 0.
status_kb() { { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; } | grep . || echo 0; }
fds() { { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l; }
# The largest VmRSS (KiB) and descriptor count over pids $@.
largest() {
  local rss=0 fd=0 r f
  for p in "$@"; do
    r=$(status_kb "$p"); f=$(fds "$p")
    [ "${r:-0}" -gt "$rss" ] && rss=$r
    [ "$f" -gt "$fd" ] && fd=$f
  done
  echo "$rss $fd"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
start=$(date +%s)
deadline=$((start + minutes * 60))
round=0
failed=0
last_print=-$every
# samples.tsv: round mode transport spec seconds init_rss_kb init_fds peer_rss_kb peer_fds
# results.tsv: round mode transport spec, max_rss_bytes (initiator, peer) of the first run and
# of the last, runs
while [ "$(date +%s)" -lt "$deadline" ]; do
  round=$((round + 1))
  for t in "${transports[@]}"; do
    for mode in run host; do
      [ "$(date +%s)" -lt "$deadline" ] || break 3
      pats=round-trip,one-way,throughput
      matrix=(-t "$t" -s 64,4KiB -d 1s --warmup 100 --min-time 0s --timeout-s 10 --socket-dir "$sockets"
        --out "$work/r.json" -q)
      # Pair patterns at both waits, then the group patterns (block: 3 processes on 2 CPUs).
      runs=("-p $pats --wait block,spin")
      [ -z "${groups[$t]:-}" ] || runs+=("${groups[$t]} --wait block")
      for si in "${!runs[@]}"; do
        spec=${runs[$si]}
        read -r -a extra <<<"$spec"
        peers=()
        if [ "$mode" = run ]; then
          "$ib" run "${matrix[@]}" "${extra[@]}" 2>"$work/err" &
          init=$!
        else
          n=1; [[ "$spec" == *fan-* || "$spec" == *many-* ]] && n=2
          for ((i = 0; i < n; i++)); do
            "$ib" client --socket-dir "$sockets" --timeout-s 10 --connect-timeout-s 30 2>>"$work/client.err" &
            peers+=($!)
          done
          "$ib" host "${matrix[@]}" "${extra[@]}" --client-timeout-s 30 2>"$work/err" &
          init=$!
        fi
        pids=("$init" "${peers[@]}")
        while kill -0 "$init" 2>/dev/null; do
          now=$(($(date +%s) - start))
          [ "$mode" = run ] && mapfile -t peers < <(pgrep -P "$init" || true)
          read -r irss ifd < <(largest "$init") || irss=0
          read -r prss pfd < <(largest "${peers[@]}") || prss=0
          if [ "$irss" -gt 0 ]; then
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$t" "$si" "$now" "$irss" "$ifd" "$prss" "$pfd" \
              >>"$work/samples.tsv"
            if ((now - last_print >= every)); then
              printf '%5ds round %d %-4s %-9s initiator %6.1f MiB %3d fds | peer %6.1f MiB %3d fds\n' \
                "$now" "$round" "$mode" "$t" "$(mib "$irss")" "$ifd" "$(mib "$prss")" "$pfd"
              last_print=$now
            fi
          fi
          sleep 0.25
        done
        if ! wait "$init"; then
          echo "soak: round $round, $mode $t ($spec) failed: $(grep -m1 '^Error' "$work/err" || tail -1 "$work/err")" >&2
          failed=$((failed + 1))
        fi
        for p in "${peers[@]}"; do wait "$p" 2>/dev/null || true; done
        pids=()
        python3 - "$work/r.json" "$round" "$mode" "$t" "$si" >>"$work/results.tsv" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rss = [r.get("max_rss_bytes") or {} for r in d["runs"]] or [{}]
get = lambda x, side: x.get(side) or 0
print(*sys.argv[2:6], get(rss[0], "initiator"), get(rss[0], "peer"), get(rss[-1], "initiator"),
      get(rss[-1], "peer"), len(d["runs"]), sep="\t")
PY
      done
    done
  done
done
left_after=$(leftovers)
python3 - "$work/samples.tsv" "$work/results.tsv" "$round" "$failed" "$left_before" "$left_after" <<'PY'
import collections, statistics, sys
samples, results, rounds, failed, left0, left1 = sys.argv[1:7]
rounds, failed, left0, left1 = int(rounds), int(failed), int(left0), int(left1)
SIDES = ["initiator", "peer"]
mode = lambda xs: statistics.mode(xs) if xs else 0
# Descriptors of each invocation (round, mode, transport, spec) per side, in sample order; the
# count most often seen is what a side holds through its runs.
fds = collections.defaultdict(lambda: ([], []))
for line in open(samples):
    rnd, m, t, spec, _, _, ifd, prss, pfd = line.rstrip("\n").split("\t")
    f = fds[(int(rnd), m, t, int(spec))]
    f[0].append(int(ifd))
    if int(prss) > 0:
        f[1].append(int(pfd))
# Peak memory of each invocation per side, from its result: of its first run and of its last.
peak = {}
runs = 0
for line in open(results):
    rnd, m, t, spec, i0, p0, i1, p1, n = line.rstrip("\n").split("\t")
    peak[(int(rnd), m, t, int(spec))] = ((int(i0), int(p0)), (int(i1), int(p1)))
    runs += int(n)
tests = sorted({k[1:] for k in peak})
first = {k: min(r for r, *rest in peak if tuple(rest) == k) for k in tests}
last = {k: max(r for r, *rest in peak if tuple(rest) == k) for k in tests}
mib = lambda b: b / 2**20
grew, rss_growth, within = [], [0, 0], [0, 0]
fd_range = [[10**9, 0], [10**9, 0]]
print(f"\n{'test':<22} {'side':<9} {'peak RSS MiB, round 1 -> ' + str(rounds):>26} {'fds, round 1 -> ' + str(rounds):>18}")
for k in tests:
    a, z = (first[k],) + k, (last[k],) + k
    name = f"{k[0]} {k[1]} {'pairs' if k[2] == 0 else 'groups'}"
    for s, side in enumerate(SIDES):
        ra, rz = peak[a][1][s], peak[z][1][s]
        fa, fz = mode(fds[a][s]), mode(fds[z][s])
        print(f"{name:<22} {side:<9} {mib(ra):>12.1f} -> {mib(rz):<10.1f} {fa:>8} -> {fz:<6}")
        rss_growth[s] = max(rss_growth[s], rz - ra)
        fd_range[s] = [min(fd_range[s][0], fa), max(fd_range[s][1], fz)]
        if fz > fa:
            grew.append(f"{name} {side} {fa} -> {fz}")
        # Within one process: its last run's peak against its first run's.
        for key in {a, z}:
            within[s] = max(within[s], peak[key][1][s] - peak[key][0][s])
            f = fds[key][s]
            third = len(f) // 3
            if k[2] == 0 and third >= 3 and mode(f[-third:]) > mode(f[:third]):
                grew.append(f"{name} {side} round {key[0]}: {mode(f[:third])} -> {mode(f[-third:])} within the test")
for s, side in enumerate(SIDES):
    print(f"soak {side}: peak RSS growth round 1 -> {rounds} at most {mib(rss_growth[s]):+.1f} MiB per test,"
          f" first run -> last run of one process at most {mib(within[s]):+.1f} MiB;"
          f" descriptors {fd_range[s][0]}-{fd_range[s][1]}")
print(f"soak: {rounds} round(s), {len(tests)} tests, {len(peak)} invocations, {runs} runs, {failed} failed; files left behind {left0} before,"
      f" {left1} after; descriptors grew in {len(grew)} test(s){': ' + '; '.join(grew) if grew else ''}")
sys.exit(1 if grew or failed or left1 > left0 else 0)
PY
