#!/usr/bin/env bash
# The self-improving doctor's ablation on the shared AgentClinic MedQA file, with the embedded
# model: learn experience memory on a 24-case training split, draw a learning curve on 30
# held-out cases, then compare baseline, memory, memory+reflection, panel and self-consistency
# on the same 30 held-out cases. Then the same with MedAgentSim's reflection filter (the retry
# sees the lesson as written, answer and all). Results: $OUT/learn/curve.md,
# $OUT/ablate/ablation.md, $OUT/ablate-unmasked/ablation.md. Identical requests are answered from
# the replay cache, so arms that retrieve nothing cost nothing.
#
#   scripts/ablation-medqa.sh [OUT] [MEDQA_JSONL]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/ablation-medqa}
MEDQA=${2:-../shared/datasets/agentclinic/agentclinic_medqa.jsonl}
MEDSIM=${MEDSIM:-./target/release/medsim}
COMMON=(--dataset "$MEDQA" --split-seed 1 --train-size 24 --max-turns 3 --concurrency 8
        --cache read-write --cache-path "$OUT/llm-cache.sqlite")
mkdir -p "$OUT"
"$MEDSIM" learn "${COMMON[@]}" --memory "$OUT/memory.sqlite" --strategy reflection \
    --curve 0,24 --test-limit 30 --out "$OUT/learn"
"$MEDSIM" ablate "${COMMON[@]}" --split test --limit 30 --memory "$OUT/memory.sqlite" \
    --grid "baseline;memory;memory,reflection;panel:n=3:rounds=1;self-consistency:k=3" --out "$OUT/ablate"
"$MEDSIM" learn "${COMMON[@]}" --memory "$OUT/memory-unmasked.sqlite" --strategy reflection:mask=false \
    --out "$OUT/learn-unmasked"
"$MEDSIM" ablate "${COMMON[@]}" --split test --limit 30 --memory "$OUT/memory-unmasked.sqlite" \
    --grid "baseline;memory,reflection:mask=false" --out "$OUT/ablate-unmasked"
