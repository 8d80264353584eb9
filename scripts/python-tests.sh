#!/usr/bin/env bash
# Outside clients against real medsim processes: OpenEnv's generic client and a TRL-style
# environment play episodes against `medsim env serve`; `medsim export` files load with
# Hugging Face datasets with TRL's columns. The patient, judge and (for the runs) the doctor
# are the scripted server's. MEDSIM is the binary (default: target/debug/medsim).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
medsim=${MEDSIM:-$root/target/debug/medsim}
# Run alone (not from scripts/test.sh), the binary may not be built yet.
[ -n "${MEDSIM:-}" ] || [ -x "$medsim" ] || (cd "$root" && cargo build --locked -p medsim-cli >&2)
python=$("$root/scripts/python-env.sh")
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

source "$root/scripts/scripted-clinic.sh"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$medsim" --cache-dir "$work/cache" env serve --config "$work/medsim.toml" --train-size 17 --max-turns 6 --port "$port" 2> "$work/env.err" &
pids+=($!)
for _ in $(seq 200); do
  "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health')" 2>/dev/null && break
  sleep 0.1
done
"$python" "$root/python/openenv_client.py" "http://127.0.0.1:$port"
"$python" "$root/python/trl_environment.py" "http://127.0.0.1:$port"

run() { "$medsim" --cache-dir "$work/cache" run --config "$work/medsim.toml" --max-turns 5 --out "$work/$1" "${@:2}" > /dev/null 2>&1; }
run good --doctor-model s/good --cases endo-01,cardio-01 --repeats 2
run bad --doctor-model s/bad --cases endo-01,cardio-01
for format in sft dpo kto grpo; do
  "$medsim" export "$work/good" "$work/bad" --format "$format" --out "$work/$format.jsonl" --include-incorrect 2>/dev/null
done
"$python" "$root/python/check_exports.py" "$work/sft.jsonl" "$work/dpo.jsonl" "$work/kto.jsonl" "$work/grpo.jsonl"
echo "python tests: ok"
