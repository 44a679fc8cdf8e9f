#!/usr/bin/env bash
# What each boundary costs: the same round-trip matrix (uds, tcp, shm; 64 B and 4 KiB; spin and
# block; pinned 0,1) measured host->host (ipcbench run), host->container (ipcbench host and the
# Podman client container over ./sockets) and sidecar<->sidecar in one Pod (podman kube play of
# the manifest `ipcbench kube pod` prints), in interleaved rounds.
#
#   tools/boundary_matrix.sh [ROUNDS] [COUNT]          (defaults 3, 20000)
#
# Prints each boundary's p50 and p99 (medians over rounds) and its p50 ratio to host->host, and
# leaves output/boundary-<boundary>.json (every round, repetition = round) and
# output/boundary-report.html (the report, one curve per boundary). Needs root for podman.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
count=${2:-20000}
work=$(mktemp -d)
export ENGINE=podman IPCBENCH_CONTAINER=ipcbench-boundary
pod=ipcbench-boundary-pod
cleanup() {
  podman kube down "$work/pod.yaml" >/dev/null 2>&1 || true
  ./run_container_server.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# kube play takes ulimits from containers.conf (as .ci/kube-test.sh does).
container/kube-containers-conf.sh >"$work/containers.conf"

cargo build --release --quiet --bin ipcbench
ib=target/release/ipcbench
./run_container_server.sh build >/dev/null
./run_container_server.sh start >/dev/null
matrix=(-t uds,tcp,shm -p round-trip -s 64,4KiB -n "$count" --pin 0,1)

for ((r = 1; r <= rounds; r++)); do
  for w in spin block; do
    "$ib" run -q "${matrix[@]}" --wait "$w" --socket-dir sockets --out "$work/host-host-$w-$r.json"
    "$ib" host -q "${matrix[@]}" --wait "$w" --socket-dir sockets --client-timeout-s 30 \
      --out "$work/host-container-$w-$r.json" 2>/dev/null
    "$ib" kube pod --name "$pod" "${matrix[@]}" --wait "$w" >"$work/pod.yaml"
    CONTAINERS_CONF=$work/containers.conf podman kube play "$work/pod.yaml" >/dev/null
    for _ in $(seq 1 600); do
      [ "$(podman inspect --format '{{.State.Status}}' "$pod-host" 2>/dev/null)" = exited ] && break
      sleep 0.5
    done
    podman logs "$pod-host" 2>/dev/null | sed -n '/^{/,$p' >"$work/pod-sidecar-$w-$r.json"
    CONTAINERS_CONF=$work/containers.conf podman kube down "$work/pod.yaml" >/dev/null
  done
  echo "round $r/$rounds done" >&2
done

python3 - "$work" "$rounds" "$count" <<'PY'
import glob, json, statistics, sys
work, rounds, count = sys.argv[1], sys.argv[2], sys.argv[3]
boundaries = ["host-host", "host-container", "pod-sidecar"]
vals = {}
for b in boundaries:
    merged = None
    for f in sorted(glob.glob(f"{work}/{b}-*.json")):
        d = json.load(open(f))
        assert d["error"] is None, (f, d["error"])
        rnd = int(f.rsplit("-", 1)[1].split(".")[0]) - 1
        for run in d["runs"]:
            run["repetition"] = rnd
            key = (b, run["wait"], run["transport"], run["size_bytes"])
            vals.setdefault(key, []).append((run["latency_ns"]["p50"], run["latency_ns"]["p99"]))
        if merged is None:
            merged = d
            merged["runs"] = []
        merged["runs"].extend(d["runs"])
    json.dump(merged, open(f"output/boundary-{b}.json", "w"), indent=2)
med = lambda k, i: statistics.median(v[i] for v in vals[k])
print(f"round trip, ns: medians over {rounds} interleaved rounds of {count} messages, pinned 0,1")
print(f"{'wait':<6} {'transport':<9} {'size':>5} " + " ".join(f"{b + ' p50/p99':>24}" for b in boundaries)
      + f" {'ctr/host':>9} {'pod/host':>9}")
for w in ["spin", "block"]:
    for t in ["uds", "tcp", "shm"]:
        for s in [64, 4096]:
            k = [(b, w, t, s) for b in boundaries]
            cells = " ".join(f"{med(x, 0):>11.0f} / {med(x, 1):<10.0f}" for x in k)
            h = med(k[0], 0)
            print(f"{w:<6} {t:<9} {s:>5} {cells} {med(k[1], 0) / h:>9.2f} {med(k[2], 0) / h:>9.2f}")
PY
"$ib" report output/boundary-host-host.json output/boundary-host-container.json output/boundary-pod-sidecar.json \
  --out output/boundary-report.html
