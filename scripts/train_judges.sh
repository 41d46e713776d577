#!/usr/bin/env bash
# Trains the six property classifiers of EDM's conditional protocol (the judges of issue 32) one after another,
# each in runs/judge-<property> from its recipe in configs/property-classifier/recipes/. A judge with a checkpoint
# is resumed (one that has reached its last step ends at once), so the same command continues the chain after an
# interruption. Give it one thread beside other work:
#     OMP_NUM_THREADS=1 nohup bash scripts/train_judges.sh > runs/judges.log 2>&1 &
# PROPERTIES (default "gap mu alpha Cv homo lumo") picks and orders them.
set -euo pipefail
cd "$(dirname "$0")/.."

for property in ${PROPERTIES:-gap mu alpha Cv homo lumo}; do
    run_dir="runs/judge-$property"
    resume=()
    if [ -f "$run_dir/checkpoints/last.ckpt" ]; then
        resume=(--resume)
    fi
    echo "== judge $property ($run_dir) $(date -u +%FT%TZ)"
    .venv/bin/atomgen train property-classifier --config "configs/property-classifier/recipes/$property.yaml" \
        --run-dir "$run_dir" "${resume[@]}"
done
