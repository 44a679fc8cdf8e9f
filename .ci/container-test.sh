#!/usr/bin/env bash
# A real host <-> container test with one engine:
#
#   .ci/container-test.sh podman|docker
#
# Installs the engine when missing (Debian packages; starts and later stops dockerd for docker),
# builds the FROM-scratch image, starts the client container, runs `ipcbench host` over uds, tcp,
# shm and mqueue (the container shares the host's IPC namespace), then memfd, uds and pipe
# against a container with its own network and IPC namespaces (io_uring there: allowed by the
# default seccomp profile, or refused with a clear error), then uds-uring and memfd with eventfd wake-ups
# against one without the syscall filter, then iceoryx2 (a build with the feature) with /dev/shm
# and the user shared;
# then the client container killed mid-run (the host names the container and keeps the
# finished run);
# then a fan-out and many-clients run against two client containers (REPLICAS=2);
# checks the JSON summaries (every run present, counts right, the client says it is in a
# container, one clock), stops the container and checks that nothing is left behind.
# Along the way: the scripts name results as the binary does, pin the two sides apart by
# default, and give ./sockets its group and mode back on stop (and on a failed start) without
# touching ./output.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:?usage: $0 podman|docker}
export ENGINE=$engine IPCBENCH_CONTAINER=ipcbench-ci-$engine
out=output/ci-$engine.json
dockerd_pid=
made=
work_dir=$(mktemp -d)

install() {
  [ "$(id -u)" = 0 ] || { echo "container-test: need root to install $*" >&2; exit 1; }
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
cleanup() {
  REPLICAS=2 ./run_container_server.sh stop >/dev/null 2>&1 || true
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$out" output/ci-"$engine"-*.json output/ci-"$engine"*.hlog output/ci-"$engine"-*.err
  [ -z "$made" ] || rm -f "$made" "${made%.json}.hlog"
  rm -rf "$work_dir"
}
trap cleanup EXIT

case "$engine" in
  podman)
    { command -v podman >/dev/null && command -v runc >/dev/null; } || install podman runc
    ;;
  docker)
    command -v dockerd >/dev/null || install docker.io
    if ! docker info >/dev/null 2>&1; then
      dockerd --iptables=false --bridge=none >/tmp/ipcbench-dockerd.log 2>&1 &
      dockerd_pid=$!
      for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
      docker info >/dev/null 2>&1 || { echo "dockerd did not come up:" >&2; tail -5 /tmp/ipcbench-dockerd.log >&2; exit 1; }
    fi
    ;;
  *) echo "usage: $0 podman|docker" >&2; exit 2 ;;
esac

# Both sides built with iceoryx2 (the last phase uses it; the others do not care), or with
# CI_FEATURES (.ci/run's features). The image's binary is linked statically; the host runs
# that same binary (IPCBENCH_BIN, which .ci/run sets to the one it built), so one build serves
# both sides.
features=${CI_FEATURES:-iceoryx2}
FEATURES=$features ./run_container_server.sh build
triple=$(rustc -vV | sed -n 's/^host: //p')
export IPCBENCH_BIN=${IPCBENCH_BIN:-$PWD/target/$triple/release/ipcbench}

# What start changes, stop gives back: ./sockets' group and mode; ./output is never touched.
sockets_before=$(stat -c '%a %g' sockets) output_before=$(stat -c '%a %g' output)
host_dirs_as_before() {
  [ "$(stat -c '%a %g' sockets)" = "$sockets_before" ] \
    || { echo "container-test: $1: ./sockets is $(stat -c '%a %g' sockets), was $sockets_before" >&2; exit 1; }
  [ "$(stat -c '%a %g' output)" = "$output_before" ] \
    || { echo "container-test: $1: ./output is $(stat -c '%a %g' output), was $output_before" >&2; exit 1; }
}
if EXTRA_RUN_ARGS=--no-such-engine-flag ./run_container_server.sh start >/dev/null 2>&1; then
  echo "container-test: a start with a bad engine flag succeeded" >&2; exit 1
fi
host_dirs_as_before "after a failed start"
[ -z "$("$engine" ps -a -q --filter "name=$IPCBENCH_CONTAINER")" ] || { echo "container-test: a failed start left its container" >&2; exit 1; }

./run_container_server.sh start
[ "$(stat -c '%a %g' sockets)" = "2770 10001" ] || { echo "container-test: start did not share ./sockets" >&2; exit 1; }
# The default result name is the binary's own, with -host; and the sides are pinned apart.
TRANSPORT=uds,tcp,shm,mqueue PATTERN=round-trip,one-way ./run_host_client.sh 500 64 1 >"$work_dir/host.out"
made=$(sed -n 's/^summary: //p' "$work_dir/host.out")
bin=$IPCBENCH_BIN
(cd "$work_dir" && "$bin" run -q -t uds -p round-trip -s 64 -n 10 --min-time 0s --socket-dir "$work_dir")
own=$(cd "$work_dir" && ls output/ipcbench-*.json)
stamp='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}'
[[ "$own" =~ ^output/ipcbench-$stamp\.json$ && "$made" =~ ^output/ipcbench-host-$stamp\.json$ ]] \
  || { echo "container-test: the script named its result '$made', the binary its own '$own'" >&2; exit 1; }
mv "$made" "$out" && rm -f "${made%.json}.hlog" && made=
read -r -a cpus < <(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0))[:2])')
if [ "${#cpus[@]}" -ge 2 ]; then
  grep -qx "placement: this side on CPU ${cpus[0]}, the container on CPU ${cpus[1]} (default; PIN=A,B or PIN=none to change)" \
    "$work_dir/host.out" || { echo "container-test: no default placement line:" >&2; cat "$work_dir/host.out" >&2; exit 1; }
fi
OUTPUT_FILE=output/ci-$engine-pairs.json TRANSPORT=shm,uds PATTERN=round-trip ./run_host_client.sh 300 4096 2 >/dev/null
python3 - "$out" "output/ci-$engine-pairs.json" <<'PY'
import json, os, sys
def check(path, configs, per_run):
    d = json.load(open(path))
    assert d["error"] is None, d["error"]
    got = sorted((r["transport"], r["pattern"]) for r in d["runs"])
    assert got == sorted(configs), f"{path}: runs {got}"
    for r in d["runs"]:
        i = r["integrity"]
        assert i["received"] == per_run and i["sent"] == per_run, f"{path}: {r['transport']} {r['pattern']}: {i}"
        assert i["out_of_order"] == 0 and i["corrupt"] == 0, i
    assert d["peer_environment"]["in_container"], "the client should say it runs in a container"
    assert not d["environment"]["in_container"] or d["environment"]["container_evidence"], "host env"
    assert d["clock_check"]["same_clock"], d["clock_check"]
    return d
d = check(sys.argv[1], [(t, p) for t in ("uds", "tcp", "shm", "mqueue") for p in ("round-trip", "one-way")], 500)
cpus = sorted(os.sched_getaffinity(0))[:2]
if len(cpus) == 2:
    for r in d["runs"]:
        p = r["placement"]
        got = [p["initiator_cpu"], p["peer_cpu"], p["initiator_cpu_observed"], p["peer_cpu_observed"]]
        assert got == cpus * 2, f"{r['transport']} {r['pattern']}: pinned by default to {cpus}, got {got}"
d = check(sys.argv[2], [("shm", "round-trip"), ("uds", "round-trip")], 600)
assert all(r["placement"]["initiator_cpu"] is None for r in d["runs"]), "two pairs run unpinned"
print("container-test: summaries check out")
PY
# The client container killed mid-run (`podman kill`): the host ends at once, names the
# container (run_container_server.sh tells the client its name) and keeps the run finished before.
killed=output/ci-$engine-killed
OUTPUT_FILE=$killed.json TRANSPORT=uds,shm PATTERN=round-trip DURATION=2s \
  ./run_host_client.sh 0 64 1 >/dev/null 2>"$killed.err" &
host_pid=$!
for _ in $(seq 1 100); do
  python3 -c 'import json,sys; sys.exit(len(json.load(open(sys.argv[1]))["runs"]) < 1)' "$killed.json" 2>/dev/null && break
  sleep 0.1
done
sleep 0.5 # into the second run
"$engine" kill "$IPCBENCH_CONTAINER" >/dev/null
rc=0; wait "$host_pid" || rc=$?
line=$(grep '^Error:' "$killed.err" || true)
[ "$rc" = 1 ] && [ "$(grep -c '^Error:' "$killed.err")" = 1 ] \
  || { echo "container-test: the host gave exit $rc after its client container was killed:" >&2; cat "$killed.err" >&2; exit 1; }
[[ "$line" == *"the client in container $IPCBENCH_CONTAINER: round-trip over shm"* ]] \
  || { echo "container-test: the host does not name the killed container $IPCBENCH_CONTAINER: $line" >&2; exit 1; }
python3 - "$killed.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["error"] and "round-trip over shm" in d["error"], d["error"]
assert [r["transport"] for r in d["runs"]] == ["uds"], "the finished run is kept"
print("container-test: a killed client container is named and the finished run kept")
PY
./run_container_server.sh stop
host_dirs_as_before "after stop"
# Two client containers, one host: a fan-out to both (the shm broadcast ring and a Unix socket
# per subscriber) and two clients of one server thread.
REPLICAS=2 ./run_container_server.sh start
OUTPUT_FILE=output/ci-$engine-fan.json TRANSPORT=shm,uds PATTERN=fan-out,many-clients WAIT=block \
  HOST_ARGS="--subscribers 2 --clients 2 --notify eventfd --verify" ./run_host_client.sh 300 64 1 >/dev/null
python3 - "output/ci-$engine-fan.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["error"] is None, d["error"]
got = sorted((r["transport"], r["pattern"]) for r in d["runs"])
assert got == sorted((t, p) for t in ("shm", "uds") for p in ("fan-out", "many-clients")), got
for r in d["runs"]:
    group = r.get("fan_out") or r.get("many")
    peers = group.get("per_subscriber") or group.get("per_peer")
    assert len(peers) == 2, (r["transport"], r["pattern"], peers)
    for p in peers:
        assert p["received"] == 300 and p["corrupt"] == 0 and p["out_of_order"] == 0, (r["transport"], p)
assert d["peer_environment"]["in_container"]
print("container-test: a fan-out and many clients across two containers")
PY
REPLICAS=2 ./run_container_server.sh stop
host_dirs_as_before "after stopping two replicas"
# A container that shares nothing but the socket directory (own network and IPC namespaces):
# memfd rings, Unix sockets and FIFOs still cross it.
ISOLATED=1 ./run_container_server.sh start
OUTPUT_FILE=output/ci-$engine-isolated.json TRANSPORT=memfd,uds,pipe PATTERN=round-trip,one-way ./run_host_client.sh 500 4096 1 >/dev/null
python3 - "output/ci-$engine-isolated.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["error"] is None, d["error"]
got = sorted((r["transport"], r["pattern"]) for r in d["runs"])
assert got == sorted((t, p) for t in ("memfd", "uds", "pipe") for p in ("round-trip", "one-way")), got
for r in d["runs"]:
    i = r["integrity"]
    assert i["received"] == 500 and i["corrupt"] == 0 and i["out_of_order"] == 0, (r["transport"], i)
assert all(r["shm_filesystem"] == "memfd" for r in d["runs"] if r["transport"] == "memfd")
assert d["peer_environment"]["in_container"]
print("container-test: memfd, uds and pipe cross a container with its own network and IPC namespaces")
PY
# Under the engine's default seccomp profile io_uring works (Docker 20.10) or is refused
# (Podman's containers-common): then the run must say so on one line.
if OUTPUT_FILE=output/ci-$engine-uring-default.json TRANSPORT=uds-uring PATTERN=round-trip \
  ./run_host_client.sh 10 64 1 >/dev/null 2>"output/ci-$engine-uring.err"; then
  echo "container-test ($engine): io_uring allowed by the default seccomp profile"
else
  grep -q "does a seccomp profile refuse io_uring_setup" "output/ci-$engine-uring.err" \
    || { echo "container-test: unclear io_uring failure:" >&2; cat "output/ci-$engine-uring.err" >&2; exit 1; }
  echo "container-test ($engine): io_uring refused by the default seccomp profile, with a clear error"
fi
rm -f "output/ci-$engine-uring.err"
./run_container_server.sh stop
# Without the syscall filter, io_uring sockets cross too; and eventfds for the ring's
# sleeping waits travel over the socket as the memfd does.
EXTRA_RUN_ARGS="--security-opt seccomp=unconfined" ISOLATED=1 ./run_container_server.sh start
OUTPUT_FILE=output/ci-$engine-uring.json TRANSPORT=uds-uring,memfd PATTERN=round-trip,one-way WAIT=block \
  HOST_ARGS="--notify eventfd" ./run_host_client.sh 300 4096 1 >/dev/null
python3 - "output/ci-$engine-uring.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["error"] is None, d["error"]
got = sorted((r["transport"], r["pattern"]) for r in d["runs"])
assert got == sorted((t, p) for t in ("uds-uring", "memfd") for p in ("round-trip", "one-way")), got
for r in d["runs"]:
    i = r["integrity"]
    assert i["received"] == 300 and i["corrupt"] == 0 and i["out_of_order"] == 0, (r["transport"], i)
assert all(r["ring_notify"] == "eventfd" for r in d["runs"] if r["transport"] == "memfd")
print("container-test: uds-uring (seccomp unconfined) and memfd with eventfd wake-ups cross an isolated container")
PY
./run_container_server.sh stop
# The middleware in the build: iceoryx2 and zenoh's shared memory cross with /dev/shm shared
# (--ipc host) and the host's own user in the container (their files are for their owner
# only); ZeroMQ's ipc:// and gRPC's Unix socket are files in the shared ./sockets, as uds is.
has() { [[ ",$features," == *",$1,"* || ",$features," == *",middleware,"* ]]; }
middleware=()
has iceoryx2 && middleware+=(iceoryx2)
has zeromq && middleware+=(zeromq)
has grpc && middleware+=(grpc-uds)
has zenoh && middleware+=(zenoh zenoh-shm)
if [ ${#middleware[@]} -gt 0 ]; then
  kinds=$(IFS=,; echo "${middleware[*]}")
  CONTAINER_USER="$(id -u):$(id -g)" ./run_container_server.sh start
  OUTPUT_FILE=output/ci-$engine-middleware.json TRANSPORT=$kinds \
    PATTERN=round-trip,one-way WAIT=spin ./run_host_client.sh 300 4096 1 >/dev/null
  python3 - "output/ci-$engine-middleware.json" "$kinds" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["error"] is None, d["error"]
kinds = sys.argv[2].split(",")
got = sorted((r["transport"], r["pattern"]) for r in d["runs"])
assert got == sorted((k, p) for k in kinds for p in ("round-trip", "one-way")), got
for r in d["runs"]:
    i = r["integrity"]
    assert i["received"] == 300 and i["corrupt"] == 0 and i["out_of_order"] == 0, (r["transport"], i)
assert d["peer_environment"]["in_container"]
print(f"container-test: {', '.join(kinds)} cross with /dev/shm, ./sockets and the user shared")
PY
  ./run_container_server.sh stop
fi
leftover=$(find /dev/shm -maxdepth 1 \( -name 'ipcbench_*' -o -name '*.zenoh' \) | head -3)
[ -z "$leftover" ] || { echo "container-test: shared memory left: $leftover" >&2; exit 1; }
left=$("$engine" ps -a -q --filter "name=$IPCBENCH_CONTAINER")
[ -z "$left" ] || { echo "container-test: container left behind: $left" >&2; exit 1; }
files=$(find sockets -mindepth 1 ! -name .gitkeep)
[ -z "$files" ] || { echo "container-test: files left in sockets/: $files" >&2; exit 1; }
host_dirs_as_before "at the end"
echo "container-test ($engine): ok"
