#!/usr/bin/env bash
# Builds the libFuzzer targets (stable Rust: the same coverage flags cargo-fuzz passes) and
# runs each for SECONDS (default 10), from the committed seeds plus what earlier runs found.
# A crash fails the run and leaves the input in target/fuzz/artifacts/. Usage: fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-10}"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
cargo build --release --quiet --target "$triple" --target-dir ../target/fuzz
out=../target/fuzz
for target in token cookie path config; do
  mkdir -p "$out/corpus/$target" "$out/artifacts/$target"
  cp -n seeds/"$target"/* "$out/corpus/$target/" 2>/dev/null || true
  log="$out/$target.log"
  if ! "$out/$triple/release/$target" "$out/corpus/$target" -max_total_time="$seconds" -max_len=70000 \
      -artifact_prefix="$out/artifacts/$target/" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target crashed; the input is in $out/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz: $target: $runs executions in ${seconds}s, no crash (corpus: $(ls "$out/corpus/$target" | wc -l) inputs)"
done
