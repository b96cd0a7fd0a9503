#!/usr/bin/env bash
# Issue 15's GPU check in one command (bench/gpu_check.py): SpladeEncoder on one CUDA GPU,
# BERT-base-shaped random model, SciFact-length synthetic documents, docs/s in fp32, fp16 and
# bf16 with their agreement with fp32. Needs torch with CUDA, transformers, tokenizers,
# safetensors, numpy and scipy (no Ray, no network). About 2-3 minutes for 20,000 documents at
# the target rate; options are passed on (--n, --out FILE); JSON to $OUT/gpu_check.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'torch sees no CUDA GPU')"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec timeout 290 "$PY" bench/gpu_check.py "$@"
