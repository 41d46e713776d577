#!/usr/bin/env bash
# The prepared call for a lent GPU (the `device` tool; about 15 minutes of device time in all): continues a shipped
# Quetzal model at GPU batch size for about nine minutes and brings back the exported model (EMA weights,
# safetensors) under $OUT. MODEL picks which:
#   quetzal-qm9-small (the default; issue 31): the unconditional model, on all of QM9 train
#       (configs/quetzal/recipes/gpu-cool-down.yaml);
#   quetzal-qm9-cond (issue 32): the property-conditional model, on the second half of QM9 train with its six
#       properties, as EDM's protocol trains the generator (configs/quetzal/recipes/conditional-gpu.yaml).
#
# 1. Here, once before the call (the model's training molecules as a slim pack, xz-compressed so that it fits the
#    device's 64 MiB carry; data_cache/ is git-ignored):
#        MODEL=quetzal-qm9-cond bash scripts/gpu_cool_down.sh --pack
# 2. The call:   run(command="MODEL=quetzal-qm9-cond bash scripts/gpu_cool_down.sh",
#                    carry=["data_cache/qm9-second-half-properties.tar.xz"], timeout_s=600)
#    (quetzal-qm9-small carries data_cache/qm9-train-slim.tar.xz)
# 3. Here, on the fetched model (<files_at>/quetzal-gpu/model):
#        python benchmarks/bench_quetzal.py --parts seeds --model quetzal-qm9-small --against <model>
#        python benchmarks/bench_conditional.py --parts guidance -n 200 --model <model>
# The device needs only torch and lightning (atomgen runs from src/ with PYTHONPATH, nothing is installed there).
# STEPS (the cosine's length: default 7,000 for quetzal-qm9-small, 6,000 for quetzal-qm9-cond) and LIMIT_S
# (default 540) set how long it trains; a run cut off by the limit keeps the model exported at its last checkpoint
# (every two minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

model=${MODEL:-quetzal-qm9-small}
case "$model" in
    quetzal-qm9-small) pack=qm9-train-slim recipe=configs/quetzal/recipes/gpu-cool-down.yaml steps=${STEPS:-7000} ;;
    quetzal-qm9-cond) pack=qm9-second-half-properties recipe=configs/quetzal/recipes/conditional-gpu.yaml
                      steps=${STEPS:-6000} ;;
    *) echo "MODEL: quetzal-qm9-small or quetzal-qm9-cond, not $model" >&2; exit 2 ;;
esac

if [ "${1:-}" = "--pack" ]; then
    mkdir -p data_cache
    PACK="$pack" .venv/bin/python - <<'PY'
import os

from atomgen.data.qm9 import load_qm9
from atomgen.io.pack import write_pack
from atomgen.system import AtomSystem

# Only what the model trains on, in the split's order: atomic numbers and positions, and for the conditional
# model the six properties it reads (QM9's own keys and units).
pack = os.environ["PACK"]
if pack == "qm9-train-slim":
    systems = [AtomSystem(s.numbers, s.positions) for s in load_qm9("train")]
else:
    names = ("mu", "alpha", "Cv", "homo", "lumo", "gap")
    systems = [AtomSystem(s.numbers, s.positions, properties={k: s.properties[k] for k in names})
               for s in load_qm9("train-second-half")]
write_pack(f"data_cache/{pack}.pack", systems)
PY
    tar cf - -C data_cache "$pack.pack" | xz -6 > "data_cache/$pack.tar.xz"
    ls -l "data_cache/$pack.tar.xz"
    exit 0
fi

: "${OUT:?run this on the device machine, where \$OUT is set (or set OUT to try it here)}"
python=${PYTHON:-python3}
run_dir=${RUN_DIR:-/tmp/quetzal-gpu}
[ -d "data_cache/$pack.pack" ] || tar xJf "data_cache/$pack.tar.xz" -C data_cache
# What the training imports besides the standard library (measured here); a missing one stops the call at once,
# before it spends device time.
"$python" - <<'PY'
import importlib.util, sys
missing = [m for m in ("torch", "lightning", "numpy", "scipy", "yaml", "safetensors", "tqdm")
           if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"missing on this machine: {', '.join(missing)}")
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available())
PY
PYTHONPATH=src timeout "${LIMIT_S:-540}" "$python" -m atomgen.cli train quetzal \
    --config "$recipe" --run-dir "$run_dir" --set "data.dataset=data_cache/$pack.pack" \
    --set "trainer.max_steps=$steps" \
    --set trainer.checkpoint_minutes=2 --set trainer.log_every_steps=200 || echo "training stopped (status $?)"
mkdir -p "$OUT/quetzal-gpu"
cp -r "$run_dir/model" "$run_dir/config.json" "$OUT/quetzal-gpu/"
cp -r "$run_dir/logs" "$OUT/quetzal-gpu/" 2>/dev/null || true
ls -l "$OUT/quetzal-gpu/model"
