#!/usr/bin/env bash
# Builds llama.cpp's own `llama-bench` from the llama.cpp sources vendored in llama-cpp-sys-2 (the
# exact sources medsim links), then runs it on the default model for BENCHMARKS.md.
#
# The crate ships llama.cpp without tools/llama-bench, so those few files come from the llama.cpp
# tree inside the llama-cpp-python source distribution on PyPI (same upstream project). Only the
# benchmark tool's sources are taken from there; the library it links is the crate's.
#
#   scripts/llama-bench.sh                         # build (once) and run the comparison
#   scripts/llama-bench.sh -p 300 -n 128 -r 5      # any llama-bench arguments after the model
#   MEDSIM_BENCH_MODEL=qwen2.5-coder-1.5b-instruct scripts/llama-bench.sh   # the 1.5B doctor
#   SPECULATIVE=1 scripts/llama-bench.sh           # llama.cpp's speculative-simple: the 1.5B drafted
#                                                  # by the 0.5B, against the 1.5B alone (tg128 @ d120)
#
# Environment: MEDSIM_LLAMA_BENCH_DIR (build directory, default target/llama-bench), PIP_INDEX_URL
# (JSON simple API, as for `medsim models pull`; default https://pypi.org/simple),
# MEDSIM_BENCH_THREADS (default 2), MEDSIM_BENCH_MODEL (a registered chat model, default
# qwen2.5-coder-0.5b-instruct, or the 1.5B with SPECULATIVE; the Rust benchmark reads the same
# variable). Needs cmake, a C/C++ compiler, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

sdist_version=0.3.36
sdist_sha256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
index=${PIP_INDEX_URL:-https://pypi.org/simple}
work=${MEDSIM_LLAMA_BENCH_DIR:-target/llama-bench}
threads=${MEDSIM_BENCH_THREADS:-2}
binary="$work/build/bin/llama-bench"
speculative="$work/build/bin/llama-speculative-simple"

if [[ ! -x "$binary" || ! -x "$speculative" ]]; then
  manifest=$(cargo metadata --format-version 1 --locked |
    python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "llama-cpp-sys-2"))')
  vendored="$(dirname "$manifest")/llama.cpp"
  [[ -d "$vendored/ggml" ]] || { echo "error: no vendored llama.cpp at $vendored (run cargo fetch)" >&2; exit 3; }
  mkdir -p "$work"
  rm -rf "$work/llama.cpp" "$work/sdist"
  cp -r "$vendored" "$work/llama.cpp"

  # PEP 691 JSON simple API, as `medsim models pull` uses; the sdist's sha256 is pinned.
  sdist="llama_cpp_python-$sdist_version.tar.gz"
  url=$(curl -fsSL -H "accept: application/vnd.pypi.simple.v1+json" "$index/llama-cpp-python/" |
    python3 -c 'import json,sys; print(next(f["url"] for f in json.load(sys.stdin)["files"] if f["filename"] == sys.argv[1]))' "$sdist")
  mkdir -p "$work/sdist"
  curl -fsSL -o "$work/$sdist" "$url"
  echo "$sdist_sha256  $work/$sdist" | sha256sum -c --quiet - ||
    { echo "error: $url does not have the pinned sha256 $sdist_sha256" >&2; exit 3; }
  tar -xzf "$work/$sdist" -C "$work/sdist"
  tools=$(find "$work/sdist" -path '*/vendor/llama.cpp/tools' -type d | head -1)
  [[ -f "$tools/llama-bench/llama-bench.cpp" ]] || { echo "error: no tools/llama-bench in $url" >&2; exit 3; }
  cp -r "$tools/llama-bench/." "$work/llama.cpp/tools/llama-bench/"
  # llama.cpp's own speculative decoding example, from the same tree, to see whether a 0.5B draft
  # speeds up the 1.5B here.
  cp -r "$tools/../examples/speculative-simple/." "$work/llama.cpp/examples/speculative-simple/"
  {
    echo 'add_subdirectory(llama-bench)'
    echo 'add_subdirectory(${CMAKE_SOURCE_DIR}/examples/speculative-simple ${CMAKE_BINARY_DIR}/speculative-simple)'
  } >"$work/llama.cpp/tools/CMakeLists.txt"

  # The same instruction set as medsim's build (.cargo/config.toml: x86-64-v3), Release (-O3).
  cmake -S "$work/llama.cpp" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_OPENMP=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_APP=OFF -DLLAMA_CURL=OFF >"$work/cmake.log" 2>&1 ||
    { echo "error: cmake could not configure llama.cpp; see $work/cmake.log" >&2; exit 3; }
  echo "building llama-bench in $work (a few minutes) …" >&2
  cmake --build "$work/build" --target llama-bench llama-speculative-simple -j "$(nproc)" >"$work/build.log" 2>&1 ||
    { echo "error: the llama-bench build failed; see $work/build.log" >&2; exit 3; }
fi

path_of() {
  local path
  path=$(cargo run -q -p medsim-cli -- models path "$1")
  [[ -f "$path" ]] || { echo "error: $path is not installed; run: medsim models pull $1" >&2; exit 2; }
  echo "$path"
}
if [[ -n "${SPECULATIVE:-}" ]]; then
  target=$(path_of "${MEDSIM_BENCH_MODEL:-qwen2.5-coder-1.5b-instruct}")
  draft=$(path_of qwen2.5-coder-0.5b-instruct)
  # A doctor's first turn: 104 tokens in Qwen's chat format (llama-bench below reads 120);
  # greedy, 128 tokens generated.
  prompt="<|im_start|>system
You are a physician interviewing a patient. Ask one question, request tests, or give a diagnosis.<|im_end|>
<|im_start|>user
A 54-year-old man has had crushing chest pain for two hours, radiating to the left arm, with sweating and nausea. He smokes and has hypertension. Blood pressure 150/95, pulse 104. What do you do next, and what is your differential diagnosis? Explain your reasoning step by step.<|im_end|>
<|im_start|>assistant
"
  for draft_max in ${DRAFT_MAX:-2 4 8}; do
    echo "== speculative-simple, draft 0.5B, up to $draft_max drafted tokens"
    "$speculative" -m "$target" -md "$draft" --spec-type draft-simple --spec-draft-n-max "$draft_max" \
      -t "$threads" -td "$threads" -c 2048 -n 128 --temp 0 -p "$prompt" 2>&1 |
      grep -E " (encoded|decoded|n_drafted|n_accept|accept) " || true
  done
  echo "== llama-bench, target alone"
  "$binary" -m "$target" -t "$threads" -p 0 -n 128 -d 120 -r 3
  exit 0
fi
model=$(path_of "${MEDSIM_BENCH_MODEL:-qwen2.5-coder-0.5b-instruct}")
if [[ $# -eq 0 ]]; then
  # Prompt and generation from an empty context, and generation after a 321-token prompt, which is
  # where medsim's benchmark generates.
  "$binary" -m "$model" -t "$threads" -p 300 -n 128 -r 3
  "$binary" -m "$model" -t "$threads" -p 0 -n 128 -d 321 -r 3
else
  "$binary" -m "$model" -t "$threads" "$@"
fi
