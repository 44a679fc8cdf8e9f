#!/usr/bin/env bash
# Builds and runs the ipcbench client container that `ipcbench host` (run_host_client.sh) talks
# to over the bind-mounted ./sockets directory.
#
#   ./run_container_server.sh build|start|stop|status|logs
#
# ENGINE=podman|docker picks the engine (default: podman if installed, else docker).
# REPLICAS=N starts (stops, shows) N client containers, NAME, NAME-2, ... NAME-N, all on
# ./sockets: one per peer of a fan-out, fan-in or many-clients run, whose host waits for N.
# IPCBENCH_CONTAINER (default ipcbench-client) and IPCBENCH_IMAGE (default
# localhost/ipcbench-client:<version in Cargo.toml>, the tag `ipcbench kube pod` uses) name what
# it makes. Docker needs a running daemon; podman runs with container/containers.conf.
#
# What it changes on this machine:
# - build: the image IPCBENCH_IMAGE (it says so when it replaces an existing image of that tag),
#   and target/ (the static binary, target/container-context).
# - start: ./sockets becomes group 10001 (the image's user), mode 2770, so the container can
#   create its sockets there (made if missing). Its group and mode before are recorded on the
#   container (label ipcbench.sockets-saved), and `stop` puts them back (or removes the
#   directory it made, if empty); so does a `start` that fails. While another container
#   started here still uses ./sockets, `stop` leaves it shared. A container removed other than
#   by `stop` takes the record with it: ./sockets then stays as start left it.
#   Nothing else on the host is touched: ./output is not mounted (the client writes nothing
#   outside ./sockets; run_host_client.sh writes the results on the host).
set -euo pipefail
cd "$(dirname "$0")"
name=${IPCBENCH_CONTAINER:-ipcbench-client}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
image=${IPCBENCH_IMAGE:-localhost/ipcbench-client:$version}
# The unprivileged user and group of the image (container/Containerfile).
container_gid=10001
sockets=$PWD/sockets

usage() {
  echo "usage: $0 build|start|stop|status|logs   (ENGINE=podman|docker)" >&2
  exit 2
}
[ $# -eq 1 ] || usage
replicas=${REPLICAS:-1}
[[ "$replicas" =~ ^[1-9][0-9]*$ ]] || { echo "error: REPLICAS must be a whole number of at least 1, not '$replicas'" >&2; exit 2; }
if [ "$replicas" -gt 1 ] && [ "$1" != build ]; then
  # One container per replica; stopped last to first, so the last one gives ./sockets back.
  order=$(seq 1 "$replicas"); [ "$1" = stop ] && order=$(seq "$replicas" -1 1)
  rc=0
  for i in $order; do
    replica=$name; [ "$i" -gt 1 ] && replica=$name-$i
    REPLICAS=1 IPCBENCH_CONTAINER=$replica "$0" "$1" || rc=$?
  done
  exit "$rc"
fi

engine=${ENGINE:-}
if [ -z "$engine" ]; then
  if command -v podman >/dev/null; then engine=podman
  elif command -v docker >/dev/null; then engine=docker
  else echo "error: neither podman nor docker is installed (apt-get install -y podman runc)" >&2; exit 1
  fi
fi
case "$engine" in
  podman) export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf} ;;
  docker) ;;
  *) echo "error: ENGINE must be podman or docker, not '$engine'" >&2; exit 2 ;;
esac
command -v "$engine" >/dev/null || { echo "error: $engine is not installed" >&2; exit 1; }
if [ "$engine" = docker ] && ! docker info >/dev/null 2>&1; then
  echo "error: the docker daemon is not running (start it, e.g. dockerd --iptables=false --bridge=none &)" >&2
  exit 1
fi

state() { "$engine" inspect --format '{{.State.Status}}' "$name" 2>/dev/null || echo absent; }
label() { "$engine" inspect --format "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }
# The other containers started here on ./sockets, in any state.
others_on_sockets() {
  "$engine" ps -a --filter "label=ipcbench.sockets=$sockets" --format '{{.Names}}' | grep -vxF "$name" || true
}
# Puts ./sockets back as `start` found it: "MODE:GID" (stat's %a:%g), or "absent" (start made it).
restore_sockets() {
  local saved=$1
  if [[ "$saved" =~ ^([0-7]{3,4}):([0-9]+)$ ]]; then
    chgrp "${BASH_REMATCH[2]}" "$sockets"
    # Five digits: a shorter numeric mode keeps a directory's setgid bit (GNU chmod).
    chmod "$(printf '%05o' "$((8#${BASH_REMATCH[1]}))")" "$sockets"
    echo "./sockets back to group ${BASH_REMATCH[2]}, mode ${BASH_REMATCH[1]}"
  elif [ "$saved" = absent ]; then
    rmdir "$sockets" 2>/dev/null && echo "./sockets removed (start made it)" \
      || echo "note: ./sockets, which start made, is not empty: left as it is" >&2
  else
    echo "note: no record of ./sockets before start ('$saved'): left group $(stat -c %g "$sockets"), mode $(stat -c %a "$sockets")" >&2
  fi
}
# Removes the container, then restores ./sockets unless another container still uses it.
remove_container() {
  local saved others
  saved=$(label "$name" ipcbench.sockets-saved)
  # SIGTERM first (through --init), so the client removes what it holds for the life of the
  # process (zenoh's shared-memory segments); it exits at once, the 5 s are a bound.
  "$engine" stop -t 5 "$name" >/dev/null 2>&1 || true
  "$engine" rm -f -t 0 "$name" >/dev/null 2>&1 || "$engine" rm -f "$name" >/dev/null
  others=$(others_on_sockets)
  if [ -n "$others" ]; then
    echo "./sockets stays shared: $(paste -sd, <<<"$others") still use(s) it"
  elif [ -n "$saved" ]; then
    restore_sockets "$saved"
  fi
}

case "$1" in
  build)
    triple=$(rustc -vV | sed -n 's/^host: //p')
    # FEATURES: cargo features for the image's binary (e.g. iceoryx2).
    RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --quiet --target "$triple" --bin ipcbench \
      ${FEATURES:+--features "$FEATURES"}
    ctx=target/container-context
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp "target/$triple/release/ipcbench" "$ctx/ipcbench"
    strip "$ctx/ipcbench" 2>/dev/null || true
    cp container/Containerfile "$ctx/Containerfile"
    image_id() { "$engine" image inspect --format '{{.Id}}' "$image" 2>/dev/null | sed 's/^sha256://' | cut -c1-12; }
    before=$(image_id || true)
    "$engine" build -q -t "$image" -f "$ctx/Containerfile" "$ctx" >/dev/null
    after=$(image_id)
    if [ -z "$before" ]; then
      echo "built $image ($after) with $engine"
    elif [ "$before" = "$after" ]; then
      echo "built $image ($after) with $engine: the same image as before"
    else
      echo "built $image ($after) with $engine: it replaces the earlier $image ($before), now" \
        "untagged unless another tag names it ('$engine rmi $before' removes it)"
    fi
    ;;
  start)
    "$engine" image inspect "$image" >/dev/null 2>&1 || { echo "error: no image $image: run '$0 build' first" >&2; exit 1; }
    # A container of this name from an earlier start goes first, and gives ./sockets back.
    [ "$(state)" = absent ] || remove_container >/dev/null
    # What ./sockets was before: found here, or recorded by another container still using it.
    saved=
    for other in $(others_on_sockets); do saved=$(label "$other" ipcbench.sockets-saved); [ -n "$saved" ] && break; done
    if [ -z "$saved" ]; then
      if [ -d "$sockets" ]; then saved=$(stat -c '%a:%g' "$sockets"); else saved=absent; mkdir "$sockets"; fi
    fi
    # From here on a failed start removes its container and gives ./sockets back.
    trap '"$engine" rm -f "$name" >/dev/null 2>&1 || true; [ -n "$(others_on_sockets)" ] || restore_sockets "$saved" >&2' EXIT
    # The socket directory is shared with the container's group only: never world-writable.
    chgrp "$container_gid" "$sockets"
    chmod 2770 "$sockets"
    limits=()
    if [ "$engine" = podman ]; then
      nofile=$(ulimit -Hn)
      nproc=$(ulimit -Hu)
      pid_max=$(cat /proc/sys/kernel/pid_max)
      if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
      [ "$nofile" = unlimited ] && nofile=1048576
      limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
    fi
    # --init: a static binary as PID 1 would ignore SIGTERM. Host network: TCP on 127.0.0.1.
    # Host IPC: /dev/shm is shared too, for --shm-dir under /dev/shm. ISOLATED=1 instead gives
    # the container its own network and IPC namespaces: only the bind-mounted socket directory
    # is shared (uds and memfd, which passes its ring over a socket, still cross it).
    share=(--network host --ipc host)
    [ "${ISOLATED:-}" = 1 ] && share=(--network none --ipc private)
    # EXTRA_RUN_ARGS: more engine flags, e.g. --security-opt seccomp=unconfined to measure
    # without the syscall filter (it costs every syscall; see the README).
    # shellcheck disable=SC2086
    # CONTAINER_USER: the uid:gid the client runs as (default: an unprivileged one whose group
    # shares ./sockets; iceoryx2 needs the host's own user, its files are owner-only).
    "$engine" run -d --name "$name" --init "${share[@]}" --user "${CONTAINER_USER:-$container_gid:$container_gid}" ${EXTRA_RUN_ARGS:-} \
      "${limits[@]}" --label "ipcbench.sockets=$sockets" --label "ipcbench.sockets-saved=$saved" \
      --env "IPCBENCH_CONTAINER_NAME=$name" \
      -v "$sockets:/app/sockets" "$image" >/dev/null
    for _ in $(seq 1 50); do
      if [ "$(state)" = running ]; then
        trap - EXIT
        echo "started $name ($engine, $image); it waits for a host on ./sockets/ipcbench.ctl"
        exit 0
      fi
      sleep 0.2
    done
    echo "error: $name did not start; its logs:" >&2
    "$engine" logs "$name" >&2 || true
    exit 1
    ;;
  stop)
    if [ "$(state)" = absent ]; then echo "$name is not there"; exit 0; fi
    restored=$(remove_container)
    echo "stopped and removed $name; $restored"
    ;;
  status)
    s=$(state)
    echo "$name: $s ($engine)"
    [ "$s" = running ]
    ;;
  logs)
    [ "$(state)" != absent ] || { echo "error: no container $name" >&2; exit 1; }
    "$engine" logs "$name"
    ;;
  *) usage ;;
esac
