#!/usr/bin/env bash
# Issue 19's comparison: the plain doctor, the dxo orchestrator, and dxo within a budget, on the
# same cases, models and seed; one table with accuracy, care cost per case and paired tests, and
# the accuracy-cost Pareto chart (OUT/ablation.md, OUT/pareto.svg). Resumable: run it again to
# finish what is missing.
#
#   scripts/cost-comparison.sh [OUT]                      # embedded models, 17 built-in cases
#   DATASET=agentclinic-medqa SPLIT="--split test --split-seed 1 --train-size 50" LIMIT=30 \
#     scripts/cost-comparison.sh runs/cost-medqa          # 30 held-out MedQA cases
#   DOCTOR=openai/gpt-4o-mini PATIENT=openai/gpt-4o-mini JUDGE=openai/gpt-4o-mini \
#     scripts/cost-comparison.sh runs/cost-api            # any endpoint (keys from the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/cost-comparison}
medsim=${MEDSIM:-./target/release/medsim}
doctor=${DOCTOR:-local/qwen2.5-coder-1.5b-instruct}
patient=${PATIENT:-local/qwen2.5-coder-0.5b-instruct}
judge=${JUDGE:-$patient}
budget=${BUDGET:-250}  # about the plain doctor's mean care cost on the built-in cases ($239)
if [[ "$doctor$patient$judge" == *local/* ]]; then
  "$medsim" models pull qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct
fi
# shellcheck disable=SC2086
"$medsim" ablate --dataset "${DATASET:-builtin}" ${SPLIT:-} ${LIMIT:+--limit "$LIMIT"} \
  --protocol tools --max-turns "${TURNS:-6}" --aids all --concurrency "${CONCURRENCY:-4}" \
  --doctor-model "$doctor" --patient-model "$patient" --judge-model "$judge" \
  --grid "baseline;dxo;dxo@budget=$budget" --out "$out"
