#!/usr/bin/env bash
# Trains the three latent DiTs that `bench_adit.py --parts joint-vs-single` compares: the same small preset and
# the same number of steps at the same batch size, on joint data, on QM9 only, and on the crystals only. All three
# diffuse in the latent space of the same frozen joint autoencoder (the shipped model's), so the comparison is of
# the diffusion stage alone.
#
#   bash benchmarks/train_adit_joint_vs_single.sh [STEPS] [AUTOENCODER] [DATA_DIR]
#   python benchmarks/bench_adit.py --parts joint-vs-single --budget-joint runs/adit-budget-joint/model \
#       --single-molecule runs/adit-budget-molecules/model --single-crystal runs/adit-budget-crystals/model
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-1500}
autoencoder=${2:-runs/adit-joint-autoencoder/model}
data_dir=${3:-${ATOMGEN_DATA:-$HOME/.cache/atomgen}}
atomgen=${ATOMGEN:-.venv/bin/atomgen}

train() {  # run name, then --set overrides for the data
    local name=$1
    shift
    local resume=()
    [ -f "runs/$name/checkpoints/last.ckpt" ] && resume=(--resume)
    "$atomgen" train adit --config configs/adit/joint-small-diffusion.yaml --run-dir "runs/$name" \
        --set "model.autoencoder=$autoencoder" --set "data.data_dir=$data_dir" \
        --set "trainer.max_steps=$steps" --set optim.warmup_steps=200 --set trainer.sample_every_steps=0 \
        "$@" "${resume[@]}"
}

# The joint run keeps the shipped model's mixture; the single-domain runs draw their datasets in proportion to
# their sizes (for the crystals about 0.65 : 0.35, close to the joint mixture's 0.6 : 0.4).
train adit-budget-joint
train adit-budget-molecules --set data.dataset=qm9:train --set data.shares=null
train adit-budget-crystals --set data.dataset=perov_5:val,carbon_24:val --set data.shares=null
