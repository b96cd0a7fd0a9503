#!/usr/bin/env bash
# Set up a development environment from a fresh clone: .venv with torch 2.13.0 (CPU) first,
# spladekit with its extras, the splade-tiny test model, and the Milvus server binary for tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: the CPU wheel. Letting pip resolve "torch" freely pulls a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# ray: distributed indexing (ray[data] brings pyarrow, which also reads Parquet corpora).
.venv/bin/python -m pip install --quiet -e ".[onnx,eval,ray,dev]"
.venv/bin/python scripts/fetch_test_model.py
# The C++ Milvus engine (milvus-lite 2.5.1 wheel), unpacked outside the venv, for server tests.
.venv/bin/python scripts/fetch_milvus_server.py
