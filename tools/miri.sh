#!/usr/bin/env bash
# Runs the shared-memory ring's unit tests under Miri (undefined behaviour and data-race
# detection), including the concurrent producer/consumer test (2,000 messages under Miri).
# Needs a nightly toolchain with the miri component (rustup component add miri --toolchain nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "miri: no nightly toolchain with miri here; skipped (rustup component add miri --toolchain nightly)"
  exit 0
fi
MIRIFLAGS="-Zmiri-disable-isolation" cargo +nightly miri test --lib transport::shm::ring
