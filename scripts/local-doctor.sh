#!/usr/bin/env bash
# Issue 15's comparison: the embedded doctor on the 0.5B and on the 1.5B model (patient and judge
# fixed on the 0.5B), with and without the consultation aids, on the 17 built-in cases and on 30
# held-out MedQA cases. Tools protocol, 6 turns. Results: one run directory per arm under OUT, and
# OUT/table.md (accuracy with Wilson intervals, repeated actions and questions per episode, wall
# time per episode). Resumable: run it again to finish what is missing.
#
#   scripts/local-doctor.sh [OUT]          # default OUT: runs/local-doctor
#   ARMS="0.5b-none 1.5b-all" scripts/local-doctor.sh   # a subset
#   MEDQA=../shared/datasets/agentclinic/agentclinic_medqa.jsonl scripts/local-doctor.sh   # a local copy
#   TABLE_ONLY=1 scripts/local-doctor.sh   # only the table, from what is there
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/local-doctor}
medsim=${MEDSIM:-./target/release/medsim}
concurrency=${CONCURRENCY:-4}
small=local/qwen2.5-coder-0.5b-instruct
large=local/qwen2.5-coder-1.5b-instruct
arms=${ARMS:-"0.5b-none 0.5b-all 1.5b-none 1.5b-all"}
mkdir -p "$out"
[ -n "${TABLE_ONLY:-}" ] || "$medsim" models pull qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct all-minilm-l6-v2
for dataset in ${DATASETS:-builtin medqa}; do
  [ -z "${TABLE_ONLY:-}" ] || break
  for arm in $arms; do
    size=${arm%%-*}
    aids=${arm#*-}
    doctor=$small
    [ "$size" = "1.5b" ] && doctor=$large
    dir="$out/$dataset-$arm"
    if [ -f "$dir/run.json" ]; then
      "$medsim" run --resume "$dir" --concurrency "$concurrency" >/dev/null || true
      continue
    fi
    common=(--protocol tools --max-turns 6 --concurrency "$concurrency" --aids "$aids"
      --doctor-model "$doctor" --patient-model "$small" --judge-model "$small" --out "$dir")
    if [ "$dataset" = builtin ]; then
      "$medsim" run "${common[@]}" >/dev/null || true
    else
      # The held-out part of MedQA's split (seed 1, 50 training cases), first 30: the same
      # cases scripts/ablation-medqa.sh evaluates on.
      "$medsim" run --dataset "${MEDQA:-agentclinic-medqa}" --split test --split-seed 1 --train-size 50 --limit 30 \
        "${common[@]}" >/dev/null || true
    fi
  done
done
{
  echo "| dataset | doctor | aids | accuracy (95 % CI) | repeated actions / episode | questions / episode | turns | wall time / episode |"
  echo "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |"
  for dir in "$out"/*/; do
    name=$(basename "$dir")
    [ -f "$dir/episodes.jsonl" ] || continue
    python3 - "$dir" "$name" <<'PY'
import json, math, sys
directory, name = sys.argv[1], sys.argv[2]
records = [json.loads(line) for line in open(f"{directory}/episodes.jsonl") if line.strip()]
judged = [r for r in records if r["outcome"] != "error"]
correct = sum(r["outcome"] == "correct" for r in judged)
n = len(judged)
def wilson(k, n, z=1.96):
    if n == 0:
        return (0.0, 0.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))
low, high = wilson(correct, n)
def repeated(record):
    # Doctor actions identical to an earlier one of the episode (same tests, or same question).
    seen, count = set(), 0
    for event in record["episode"]["events"]:
        if event.get("type") != "doctor_action":
            continue
        action = event["action"]
        key = (tuple(sorted(t.lower().strip() for t in action.get("tests", []))), (action.get("question") or "").lower().strip())
        if key == ((), "") or action.get("diagnosis"):
            continue
        count += key in seen
        seen.add(key)
    return count
repeats = sum(repeated(r) for r in records) / max(1, len(records))
questions = sum(1 for r in records for e in r["episode"]["events"] if e.get("type") == "utterance" and e.get("role") == "patient") / max(1, len(records))
turns = sum(r["episode"]["turns"] for r in records) / max(1, len(records))
wall = sum(r["episode"]["wall_ms"] for r in records) / max(1, len(records)) / 1000
dataset, size, aids = name.split("-", 2)
print(f"| {dataset} | {size} | {aids} | {correct}/{n} = {100*correct/max(1,n):.1f} % ({100*low:.1f}–{100*high:.1f} %) | {repeats:.2f} | {questions:.2f} | {turns:.2f} | {wall:.0f} s |")
PY
  done
} > "$out/table.md"
cat "$out/table.md"
