#!/usr/bin/env bash
# The main job on the embedded default: builds medsim and runs a benchmark of the built-in cases
# on the local model (downloaded and verified on first use), then prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo is needed: install Rust from https://rustup.rs" >&2; exit 2; }
./scripts/setup.sh
cargo build --release --locked -p medsim-cli
./target/release/medsim cases audit builtin
./target/release/medsim run "$@"
