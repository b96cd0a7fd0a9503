#!/usr/bin/env bash
# Set up a development environment from a fresh clone: .venv with torch 2.13.0 (CPU) first,
# spladekit with its extras, the splade-tiny test model, the Milvus server binary for tests,
# and (Debian, as root) Chromium for the search page's browser test and wrk for bench_serve.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
missing=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
  || missing+=(chromium)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "note: install ${missing[*]} (Debian: apt-get install ${missing[*]}) for the page" \
      "test and the serve benchmark" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: the CPU wheel. Letting pip resolve "torch" freely pulls a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# ray: distributed indexing (ray[data] brings pyarrow, which also reads Parquet corpora);
# train: spladekit finetune (sentence-transformers, datasets, accelerate).
.venv/bin/python -m pip install --quiet -e ".[onnx,eval,ray,serve,train,dev]"
.venv/bin/python scripts/fetch_test_model.py
# The C++ Milvus engine (milvus-lite 2.5.1 wheel), unpacked outside the venv, for server tests.
.venv/bin/python scripts/fetch_milvus_server.py
