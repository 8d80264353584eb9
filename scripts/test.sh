#!/usr/bin/env bash
# The test command: formatting, lints with warnings denied, and the whole test suite.
# Tests read the public AgentClinic files from ../shared/datasets/agentclinic/ beside the
# repository, and the embedded model and embedder, which this script installs on first run
# (`medsim models pull`, about 580 MB, checksums verified).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --locked -p medsim-cli
./target/debug/medsim models pull
cargo test --workspace --locked
