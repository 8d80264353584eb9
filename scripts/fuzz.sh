#!/usr/bin/env bash
# Coverage-guided fuzzing of medsim's parsers with cargo fuzz (libFuzzer): the case loaders, the
# doctor's actions in both protocols, medsim.toml, and the run log reader. Each target runs for
# SECONDS (default 30) from the committed seed corpus in fuzz/corpus/TARGET; new inputs go to a
# scratch directory, so the committed corpus only changes by hand. Prints each target's
# executions. A crash fails the script and leaves its input under fuzz/artifacts/TARGET.
#
#   ./scripts/fuzz.sh            # 30 s per target (what CI runs)
#   ./scripts/fuzz.sh 600        # longer, by hand
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
# cargo fuzz needs unstable compiler flags; the stable toolchain accepts them with this switch.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz 0.13.2" >&2
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
targets=(case_loader doctor_action settings_file run_log)
cd fuzz
# Optimised, with debug assertions and overflow checks; no sanitizer (the targets are safe Rust).
cargo fuzz build --sanitizer none
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  if ! cargo fuzz run --sanitizer none "$target" "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 -timeout=10 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $target FAILED (input under fuzz/artifacts/$target)" >&2
    exit 1
  fi
  executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
  echo "fuzz: $target: $executions executions in ${seconds}s, coverage $coverage edges, no crash"
done
