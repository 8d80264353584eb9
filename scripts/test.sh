#!/usr/bin/env bash
# The test command: formatting, lints with warnings denied, and the whole test suite.
# Tests read the public AgentClinic files from ../shared/datasets/agentclinic/ beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
