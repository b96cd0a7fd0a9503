#!/usr/bin/env bash
# The GPU check of the Ray path in one command (bench/gpu_ray_check.py): one GPU actor, a
# BERT-base-shaped random model, docs/s in fp32, fp16 and bf16 with their parity against fp32.
#
# For a bare machine with one NVIDIA GPU, Python 3.12 and CUDA torch, and no network: the Python
# packages it lacks are installed from wheels in $WHEELS (default bench/.wheels; bench/README.md
# lists them). A wheel too big to carry whole may come split as NAME.whl.part-aa, -ab, ...
# (split -b 60m NAME.whl NAME.whl.part-): the parts are joined here first.
# Options are passed on (--n documents, default 20,000; --batch-size; --out FILE); results go
# to $OUT/gpu_ray_check.json when $OUT is set.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=${WHEELS:-bench/.wheels}

if [ -d "$WHEELS" ]; then
  for first in "$WHEELS"/*.whl.part-aa; do
    [ -e "$first" ] || continue
    whole=${first%.part-aa}
    [ -e "$whole" ] || cat "${whole}".part-* > "$whole"
  done
fi

missing=$("$PY" - <<'PYEOF'
import importlib.util
needed = {
    "ray": "ray[data]", "pyarrow": "pyarrow", "pandas": "pandas", "transformers": "transformers",
    "tokenizers": "tokenizers", "safetensors": "safetensors", "huggingface_hub": "huggingface-hub",
    "numpy": "numpy", "scipy": "scipy", "tqdm": "tqdm", "click": "click",
}
print(" ".join(pip for module, pip in needed.items() if importlib.util.find_spec(module) is None))
PYEOF
)
if [ -n "$missing" ]; then
  if [ ! -d "$WHEELS" ]; then
    echo "missing Python packages: $missing; put their wheels in $WHEELS (see bench/README.md)" >&2
    exit 2
  fi
  # shellcheck disable=SC2086  # one argument per package
  "$PY" -m pip install --no-index --find-links "$WHEELS" ${PIP_ARGS:-} $missing
fi
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'torch sees no CUDA GPU')"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export RAY_USAGE_STATS_ENABLED=0
exec "$PY" bench/gpu_ray_check.py "$@"
