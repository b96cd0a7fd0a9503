#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests bench scripts examples
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
