#!/usr/bin/env bash
# Plays a Pod manifest with `podman kube play`, or tears it down, on a machine where podman's
# defaults do not start it (here: "error setting rlimit type 7", crun failing in cgroups hybrid
# mode):
#
#   container/kube/play.sh [MANIFEST]        # default container/kube/pod.yaml
#   container/kube/play.sh down [MANIFEST]
#
# kube play has no --ulimit: the nofile/nproc limits come from a containers.conf, which
# container/kube-containers-conf.sh writes for this machine (runc, this machine's hard limits),
# here to target/kube/containers.conf. That file stays: podman's cleanup of each container,
# when it exits, runs with the same CONTAINERS_CONF, and without the file the container stays
# "stopped" instead of "exited". Nothing else on the host changes but what podman kube play and
# down themselves make and remove (the pod, its containers and volumes). A localhost/ image the
# manifest names must be here (no registry has it): ./run_container_server.sh build makes the
# default one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
action=play
if [ "${1:-}" = down ]; then action=down; shift; fi
[ $# -le 1 ] || { echo "usage: $0 [down] [MANIFEST]" >&2; exit 2; }
manifest=${1:-$here/pod.yaml}
[ -f "$manifest" ] || { echo "error: no manifest $manifest" >&2; exit 1; }
command -v podman >/dev/null || { echo "error: podman is not installed (apt-get install -y podman runc)" >&2; exit 1; }

if [ "$action" = play ]; then
  # A localhost/ image comes from no registry: it must be here already.
  for image in $(sed -n 's/^[ -]*image: *//p' "$manifest" | tr -d "'\"" | grep '^localhost/' | sort -u); do
    podman image exists "$image" \
      || { echo "error: no image $image here: ./run_container_server.sh build makes it (ENGINE=podman)" >&2; exit 1; }
  done
fi

conf=$here/../../target/kube/containers.conf
mkdir -p "$(dirname "$conf")"
# Replaced whole, never rewritten in place: a cleanup may be reading it.
"$here/../kube-containers-conf.sh" >"$conf.$$"
mv -f "$conf.$$" "$conf"
export CONTAINERS_CONF=$conf
if [ "$action" = play ]; then
  podman kube play "$manifest"
else
  podman kube down "$manifest"
fi
