#!/usr/bin/env bash
# Runs the coverage-guided fuzz targets (fuzz/fuzz_targets, cargo fuzz on the nightly toolchain)
# for SECONDS each and prints the executions each ran. Each starts from its committed seeds
# (fuzz/seeds/TARGET, read only) and a scratch corpus (fuzz/corpus/TARGET, not committed) that
# keeps what it found for the next local run. A crash fails the script, naming the target, the
# input saved under fuzz/artifacts/TARGET and how to replay it; turn it into a test in
# tests/decoders.rs before fixing it.
#
#   tools/fuzz.sh 15                  every target, 15 s each (what CI runs)
#   tools/fuzz.sh 300 hello values    some targets
#
# Without a nightly toolchain it says so and exits 0; cargo-fuzz it installs from crates.io.
# FUZZ_SANITIZER=address builds with AddressSanitizer (slower to build and run; the decoders are
# safe Rust, so the default is none). Debug assertions are on: an overflow is a crash. The build
# is tuned for CI's short runs (fuzz/Cargo.toml); for long ones CARGO_PROFILE_RELEASE_OPT_LEVEL=3
# runs up to twice as many executions.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-}
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "usage: tools/fuzz.sh SECONDS [TARGET...]" >&2
  exit 2
fi
shift

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipped: no nightly toolchain here (cargo fuzz needs one: rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is not installed: installing it from crates.io (cargo install cargo-fuzz)"
  cargo install --locked --quiet cargo-fuzz
fi

flags=(--debug-assertions --sanitizer "${FUZZ_SANITIZER:-none}")
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
if ! cargo +nightly fuzz build "${flags[@]}" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "fuzz: building the targets failed" >&2
  exit 1
fi
echo "fuzz: targets built in $((SECONDS - start)) s; ${#targets[@]} targets, ${secs} s each"
crashed=()
for t in "${targets[@]}"; do
  if [ ! -d "fuzz/seeds/$t" ]; then
    echo "fuzz: $t has no seeds in fuzz/seeds/$t (cargo run --example fuzz_seeds writes them)" >&2
    exit 1
  fi
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  rc=0
  cargo +nightly fuzz run "${flags[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || rc=$?
  # libFuzzer's closing stats: "stat::number_of_executed_units: N".
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  if [ "$rc" = 0 ]; then
    echo "fuzz: $t: ${runs:-?} executions in ${secs} s (${speed:-?}/s), corpus of ${corpus} inputs: no crash"
    continue
  fi
  artifact=$(sed -n 's/.*Test unit written to \(\S*\).*/\1/p' "$log" | tail -n 1)
  crashed+=("$t")
  echo "fuzz: $t CRASHED after ${runs:-?} executions; input saved as ${artifact:-(none)}" >&2
  grep -E -A1 "panicked at" "$log" | head -n 2 | sed "s/^/  /" >&2
  grep -E "ERROR: (libFuzzer|AddressSanitizer)|SUMMARY" "$log" | head -n 2 | sed 's/^/  /' >&2
  if [ -n "$artifact" ]; then echo "  replay: cargo +nightly fuzz run ${flags[*]} $t $artifact" >&2; fi
done
echo "fuzz: ${#targets[@]} targets in $((SECONDS - start)) s"
if [ ${#crashed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${crashed[*]}" >&2
  exit 1
fi
