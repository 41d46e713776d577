#!/usr/bin/env bash
# Trains the two Quetzal cool-downs that the attention A/B of docs/quetzal.md compares: both from the shipped weights, with
# the same recipe, data order and step count; one with plain attention, one with distance-biased attention
# (`model.attention_distances=true`, whose new layers start at zero, so both start from the same function).
# The two run side by side: on one GPU they share it without slowing each other much.
#
#   bash benchmarks/train_quetzal_attention_ab.sh [STEPS] [ACCELERATOR]
#   python benchmarks/bench_quetzal.py --parts samples --model runs/quetzal-qm9-ab-plain/model
#   python benchmarks/bench_quetzal.py --parts samples --model runs/quetzal-qm9-ab-distances/model
#
# Its numbers in docs/quetzal.md come from 6,161 steps on one lent H200 (what fitted 350 s there, about 15 epochs at batch
# 256); a resumed run (checkpoints/last.ckpt present) continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-6161}
accelerator=${2:-auto}
atomgen=${ATOMGEN:-.venv/bin/atomgen}

train() {  # run name, then extra --set overrides
    local name=$1
    shift
    local resume=()
    [ -f "runs/$name/checkpoints/last.ckpt" ] && resume=(--resume)
    "$atomgen" train quetzal --config configs/quetzal/qm9-small.yaml --run-dir "runs/$name" \
        --set init_from=quetzal-qm9-small --set optim.lr=4e-4 --set optim.warmup_steps=200 \
        --set optim.schedule=cosine --set data.batch_size=256 --set trainer.precision=32 \
        --set trainer.sample_every_steps=0 --set trainer.checkpoint_minutes=2 \
        --set "trainer.accelerator=$accelerator" --set "trainer.max_steps=$steps" "$@" "${resume[@]}" \
        > "runs/$name.log" 2>&1
}

mkdir -p runs
train quetzal-qm9-ab-plain &
train quetzal-qm9-ab-distances --set model.attention_distances=true &
wait
