#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time: fuzz/run.sh [SECONDS] (default 60).
# libFuzzer needs a nightly toolchain and cargo-fuzz; without them this says
# so and exits 0, because the same properties already run on stable inside
# `cargo test` (tests/hardening/props.rs).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: no nightly toolchain (libFuzzer needs one); proptest covers the same properties in cargo test" >&2
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: SKIPPED: cargo-fuzz is not installed (cargo install cargo-fuzz --locked)" >&2
  exit 0
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in $(cargo fuzz list); do
  echo "fuzz: $target for ${secs}s"
  # -s none: no AddressSanitizer (safe Rust; the C in aws-lc is not the target).
  cargo +nightly fuzz run -s none "$target" -- -max_total_time="$secs" -rss_limit_mb=4096 2>&1 | tee "$log"
  # csr_sign counts the inputs that reached signing: a run where few did
  # tested the parser only, not the signing policy it is named for.
  if [ "$target" = csr_sign ]; then
    last="$(grep -E '^csr_sign: [0-9]+ inputs, [0-9]+ reached signing' "$log" | tail -n 1 || true)"
    inputs="$(echo "$last" | awk '{print $2}')"
    signed="$(echo "$last" | awk '{print $4}')"
    echo "fuzz: ${last:-csr_sign: no count printed}"
    if [ -z "$last" ] || [ $((signed * 20)) -lt "$inputs" ]; then
      echo "fuzz: csr_sign: fewer than one input in twenty reached signing" >&2
      exit 1
    fi
  fi
done
