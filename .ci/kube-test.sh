#!/usr/bin/env bash
# Plays container/kube/pod.yaml for real with the command users get, container/kube/play.sh
# (podman kube play with this machine's containers.conf): builds the FROM-scratch image, starts
# the Pod (host and client sharing an emptyDir socket directory and a memory-backed emptyDir at
# /dev/shm), waits for the host to finish, checks that its log is the JSON summary and nothing
# else (uds, tcp, shm and memfd runs, every message there, topology pod-sidecar, both
# containers Guaranteed with one CPU), tears the Pod down with `play.sh down` and checks that
# nothing is left.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=container/kube/pod.yaml
pod=ipcbench
work=$(mktemp -d)
cleanup() {
  container/kube/play.sh down "$manifest" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! { command -v podman >/dev/null && command -v runc >/dev/null; }; then
  [ "$(id -u)" = 0 ] || { echo "kube-test: need root to install podman and runc" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc >/dev/null
fi

# The image container-test.sh built (with iceoryx2, or CI_FEATURES, .ci/run's features): the
# static build is cached, so only the image is made again. It is the tag the manifest names.
ENGINE=podman FEATURES=${CI_FEATURES:-iceoryx2} ./run_container_server.sh build
image=$(sed -n 's/^ *image: //p' "$manifest" | sort -u)
podman image exists "$image" || { echo "kube-test: the manifest's image $image was not built" >&2; exit 1; }
container/kube/play.sh down "$manifest" >/dev/null 2>&1 || true
volumes_before=$(podman volume ls -q | sort)
container/kube/play.sh "$manifest" >/dev/null
for _ in $(seq 1 300); do
  [ "$(podman inspect --format '{{.State.Status}}' "$pod-host" 2>/dev/null)" = exited ] && break
  sleep 0.5
done
status=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$pod-host")
podman logs "$pod-host" >"$work/host.log" 2>&1 || true
[ "$status" = "exited 0" ] || { echo "kube-test: host container is '$status':" >&2; tail -5 "$work/host.log" >&2; exit 1; }
python3 - "$work/host.log" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))  # the whole log: `podman logs ... > result.json` is a result file
assert d["error"] is None, d["error"]
assert d["topology"] == "pod-sidecar", d.get("topology")
assert d["environment"]["pod_name"] == d["peer_environment"]["pod_name"] == "ipcbench", d["environment"].get("pod_name")
got = sorted({r["transport"] for r in d["runs"]})
assert got == ["memfd", "shm", "tcp", "uds"], got
for r in d["runs"]:
    i = r["integrity"]
    assert i["sent"] == i["received"] == 20000, (r["transport"], r["size_bytes"], i)
for side in ("environment", "peer_environment"):
    r = d[side].get("pod_resources")
    assert r and r["qos_class"] == "Guaranteed" and r["cpu_limit_millis"] == 1000, (side, r)
fs = {r["shm_filesystem"] for r in d["runs"] if r["transport"] == "shm"}
# podman kube play backs even a medium: Memory emptyDir with disk (a cluster gives tmpfs): said, not judged.
print(f"kube-test: {len(d['runs'])} runs, topology {d['topology']}, every message there; shm mapped on {fs}")
PY
client=$(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$pod-client")
[ "$client" = "exited 0" ] || { echo "kube-test: the client is '$client'" >&2; exit 1; }
container/kube/play.sh down "$manifest" >/dev/null
left=$(podman pod ps -q --filter "name=^$pod\$")
[ -z "$left" ] || { echo "kube-test: pod left behind: $left" >&2; exit 1; }
[ "$(podman volume ls -q | sort)" = "$volumes_before" ] || { echo "kube-test: volumes left behind" >&2; exit 1; }
echo "kube-test: ok"
