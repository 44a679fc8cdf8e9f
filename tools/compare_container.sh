#!/usr/bin/env bash
# Round trip host->host (ipcbench run) next to host->container (ipcbench host + the client
# container), interleaved, on this machine.
#
#   tools/compare_container.sh [ROUNDS] [COUNT]
#
# Every round measures uds, tcp and shm at 64 B with --wait ${WAIT:-spin} --pin 0,1, once
# between two host processes and once with the peer in the container (ENGINE as for
# run_container_server.sh, which must be able to build and start it). Prints the medians over
# rounds of p50 and p99.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
count=${2:-100000}
wait=${WAIT:-spin}
work=$(mktemp -d)
trap './run_container_server.sh stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cargo build --release --quiet --bin ipcbench
./run_container_server.sh build >/dev/null
./run_container_server.sh start >/dev/null
common=(-t uds,tcp,shm -p round-trip -s 64 -n "$count" --wait "$wait" --pin 0,1 -q --socket-dir sockets)
for ((r = 1; r <= rounds; r++)); do
  target/release/ipcbench run "${common[@]}" --out "$work/run-$r.json"
  target/release/ipcbench host "${common[@]}" --out "$work/host-$r.json" --client-timeout-s 30 2>/dev/null
done
python3 - "$work" "$rounds" "$wait" <<'PY'
import json, statistics, sys, glob
work, rounds, wait = sys.argv[1], sys.argv[2], sys.argv[3]
def med(kind, transport, q):
    vals = []
    for f in glob.glob(f"{work}/{kind}-*.json"):
        for r in json.load(open(f))["runs"]:
            if r["transport"] == transport:
                vals.append(r["latency_ns"][q])
    return statistics.median(vals)
print(f"round trip 64 B, --wait {wait} --pin 0,1, ns (medians of {rounds} interleaved rounds)")
print(f"{'transport':<9} {'host p50':>9} {'ctr p50':>9} {'ratio':>6} {'host p99':>9} {'ctr p99':>9}")
for t in ["uds", "tcp", "shm"]:
    h50, c50, h99, c99 = med("run", t, "p50"), med("host", t, "p50"), med("run", t, "p99"), med("host", t, "p99")
    print(f"{t:<9} {h50:>9.0f} {c50:>9.0f} {c50 / h50:>6.2f} {h99:>9.0f} {c99:>9.0f}")
PY
