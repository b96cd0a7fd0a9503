#!/usr/bin/env bash
# The fine-tune on one CUDA GPU (bench/bench_finetune.py, supervised SciFact with splade-tiny,
# bf16 autocast where the GPU has it, else fp16): mining, both evaluations and training in one
# timed run, meant to finish in under 5 minutes. Needs the repository's .venv built with a CUDA
# torch (or PYTHON pointing at one), spladekit's train and eval extras, and SciFact at
# ../shared/data/scifact (or $SPLADEKIT_SCIFACT). Options are passed on; JSON to
# ${OUT:-.}/gpu_finetune.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'torch sees no CUDA GPU')"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 290 "$PY" bench/bench_finetune.py --scenario supervised --device cuda \
  --json "${OUT:-.}/gpu_finetune.json" "$@"
