#!/usr/bin/env bash
# The main job on the embedded default: builds medsim, then lists and audits the built-in cases.
# (Once the consultation engine lands this runs a benchmark over the built-in cases.)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "error: cargo is needed: install Rust from https://rustup.rs" >&2; exit 2; }
./scripts/setup.sh
cargo build --release --locked -p medsim-cli
./target/release/medsim cases list builtin
./target/release/medsim cases audit builtin
./target/release/medsim llm chat local/qwen2.5-coder-0.5b-instruct "In one sentence: what is the most common cause of iron deficiency anemia in adults?"
