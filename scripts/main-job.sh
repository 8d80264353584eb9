#!/usr/bin/env bash
# The main job on the embedded default: builds medsim, then lists and audits the built-in cases.
# (Once the consultation engine lands this runs a benchmark over the built-in cases.)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo is needed: install Rust from https://rustup.rs" >&2; exit 2; }
cargo build --release --locked -p medsim-cli
./target/release/medsim cases list builtin
./target/release/medsim cases audit builtin
