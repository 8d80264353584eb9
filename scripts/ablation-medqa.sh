#!/usr/bin/env bash
# The self-improving doctor's ablation on the shared AgentClinic MedQA file, with the embedded
# model: learn experience memory on a 24-case training split, draw a learning curve on 30
# held-out cases, then compare baseline, memory, memory+reflection, panel and self-consistency
# on the same 30 held-out cases. Then the same with MedAgentSim's reflection filter (the retry
# sees the lesson as written, answer and all). Results: $OUT/learn/curve.md,
# $OUT/ablate/ablation.md, $OUT/ablate-unmasked/ablation.md. Identical requests are answered from
# the replay cache, so arms that retrieve nothing cost nothing, and a killed run started again
# replays what it had done for free.
#
#   scripts/ablation-medqa.sh [OUT] [MEDQA_JSONL]
#
# Environment (defaults: the run in docs/results/ablation-medqa.md): DOCTOR, PATIENT, JUDGE
# (models; default the embedded default for all; JUDGE defaults to PATIENT), TRAIN (training
# cases, 24), CURVE (0,$TRAIN), TURNS (3), PROTOCOL (agentclinic), AIDS (none), CONCURRENCY (8),
# UNMASKED (1: also the unmasked-reflection arms; 0 to skip them), LIMIT (both learning runs use
# only the first N training cases; the held-out cases stay those of TRAIN), GRID (the ablation's
# arms). Issue 15's run (docs/results/ablation-1.5b.md, about 1 h 35 min on 2 cores), the 1.5B
# doctor on the held-out cases the other comparisons use:
#
#   DOCTOR=local/qwen2.5-coder-1.5b-instruct PATIENT=local/qwen2.5-coder-0.5b-instruct \
#   TRAIN=50 LIMIT=40 CURVE=0,40 TURNS=6 PROTOCOL=tools AIDS=all CONCURRENCY=4 UNMASKED=0 \
#   GRID="baseline;memory;memory,reflection;self-consistency:k=3;panel:n=3:rounds=1" \
#     nice -n 19 scripts/ablation-medqa.sh runs/ablation-1.5b
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/ablation-medqa}
MEDQA=${2:-../shared/datasets/agentclinic/agentclinic_medqa.jsonl}
MEDSIM=${MEDSIM:-./target/release/medsim}
TRAIN=${TRAIN:-24}
JUDGE=${JUDGE:-${PATIENT:-}}
MODELS=(${DOCTOR:+--doctor-model "$DOCTOR"} ${PATIENT:+--patient-model "$PATIENT"} ${JUDGE:+--judge-model "$JUDGE"})
COMMON=(--dataset "$MEDQA" --split-seed 1 --train-size "$TRAIN" --max-turns "${TURNS:-3}"
        --protocol "${PROTOCOL:-agentclinic}" --aids "${AIDS:-none}" --concurrency "${CONCURRENCY:-8}"
        "${MODELS[@]}" --cache read-write --cache-path "$OUT/llm-cache.sqlite")
mkdir -p "$OUT"
LEARN=("${COMMON[@]}" ${LIMIT:+--limit "$LIMIT"})
"$MEDSIM" learn "${LEARN[@]}" --memory "$OUT/memory.sqlite" --strategy reflection \
    --curve "${CURVE:-0,$TRAIN}" --test-limit 30 --out "$OUT/learn"
"$MEDSIM" ablate "${COMMON[@]}" --split test --limit 30 --memory "$OUT/memory.sqlite" \
    --grid "${GRID:-baseline;memory;memory,reflection;panel:n=3:rounds=1;self-consistency:k=3}" --out "$OUT/ablate"
[ "${UNMASKED:-1}" = 0 ] && exit 0
"$MEDSIM" learn "${LEARN[@]}" --memory "$OUT/memory-unmasked.sqlite" --strategy reflection:mask=false \
    --out "$OUT/learn-unmasked"
"$MEDSIM" ablate "${COMMON[@]}" --split test --limit 30 --memory "$OUT/memory-unmasked.sqlite" \
    --grid "baseline;memory,reflection:mask=false" --out "$OUT/ablate-unmasked"
