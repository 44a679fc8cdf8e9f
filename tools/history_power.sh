#!/usr/bin/env bash
# The change-point detection's figures on synthetic histories (issue 21): 1,000 flat series of
# 100 commits at 2.5% noise (false positives), the same with two one-commit +30% spikes, and a
# +5% step at commit 60 followed by 5 commits (found at 60, within one commit, at all). No
# timing, no measurement: the numbers depend on the settings and the seed alone.
#
#   tools/history_power.sh [SERIES] [P-VALUE] [MIN-MAGNITUDE] [WINDOW] [MIN-SEGMENT] [SEED]
#   (defaults 1000 0.001 0.04 50 2 21: history check's defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --example history_power -- "$@"
