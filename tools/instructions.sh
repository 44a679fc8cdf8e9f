#!/usr/bin/env bash
# A deterministic regression guard: instructions per message on the harness's hot path,
# counted by callgrind (examples/instructions.rs), against a stored baseline.
#
#   tools/instructions.sh            check against benches/instructions-baseline.txt
#   tools/instructions.sh --bless    measure and write the baseline
#
# Per-message count = (Ir(2N) - Ir(N)) / N, so setup and teardown cancel out. The count is the
# same on every run for one binary, whatever else the machine does; it changes with the code,
# the compiler and glibc. Environment: INSTR_TOLERANCE (percent, default 2), INSTR_BASELINE
# (another baseline file), INSTR_N (default 20000).
set -euo pipefail
cd "$(dirname "$0")/.."
baseline=${INSTR_BASELINE:-benches/instructions-baseline.txt}
tolerance=${INSTR_TOLERANCE:-2}
n=${INSTR_N:-20000}
command -v valgrind >/dev/null || { echo "instructions: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
# Built as the build beside it is when the environment says so: CARGO_BUILD_TARGET and
# RUSTFLAGS (cargo's own) and INSTR_FEATURES (cargo features), as .ci/run does to share its
# static release build's compiled dependencies.
cargo build --release --quiet --example instructions ${INSTR_FEATURES:+--features "$INSTR_FEATURES"}
bin=target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release/examples/instructions
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ir() { valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" "$1" 2>&1 | awk '/Collected/ {print $NF}'; }
small=$(ir "$n")
large=$(ir $((2 * n)))
per_message=$(( (large - small) / n ))
rustc=$(rustc --version)
echo "instructions per message: $per_message ($rustc)"
if [ "${1:-}" = "--bless" ]; then
  printf '# instructions per message on the hot path (tools/instructions.sh --bless)\ncompiler %s\nper_message %s\n' \
    "$rustc" "$per_message" >"$baseline"
  echo "wrote $baseline"
  exit 0
fi
[ -f "$baseline" ] || { echo "instructions: no baseline at $baseline (run with --bless)" >&2; exit 2; }
base_rustc=$(sed -n 's/^compiler //p' "$baseline")
base=$(awk '/^per_message/ {print $2}' "$baseline")
if [ "$base_rustc" != "$rustc" ]; then
  echo "instructions: baseline was taken with $base_rustc; counts from another compiler are not comparable: re-bless"
  exit 0
fi
limit=$(( base + base * tolerance / 100 ))
echo "baseline: $base, limit (+$tolerance%): $limit"
if [ "$per_message" -gt "$limit" ]; then
  echo "instructions: REGRESSION: $per_message instructions per message > $limit" >&2
  exit 1
fi
echo "instructions: ok"
