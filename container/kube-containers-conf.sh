#!/usr/bin/env bash
# Prints the containers.conf that `podman kube play` needs here: container/containers.conf (the
# runc runtime) plus default_ulimits, since kube play has no --ulimit: this machine's hard
# limits, nproc capped at kernel.pid_max (runc refuses more). container/kube/play.sh uses it
# (the one command to play a manifest here); by hand, through CONTAINERS_CONF:
#
#   container/kube-containers-conf.sh >/tmp/kube.conf && CONTAINERS_CONF=/tmp/kube.conf podman kube play ...
set -euo pipefail
cd "$(dirname "$0")"
nofile=$(ulimit -Hn); nproc=$(ulimit -Hu); pid_max=$(cat /proc/sys/kernel/pid_max)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; then nproc=$pid_max; fi
[ "$nofile" = unlimited ] && nofile=1048576
cat containers.conf
printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' "$nofile" "$nofile" "$nproc" "$nproc"
