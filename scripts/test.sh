#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests bench scripts examples
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider --ignore=tests/integrations "$@"
# The framework integrations, each in the environment its framework needs (pymilvus majors differ).
bash scripts/setup_integrations.sh
.venvs/langchain/bin/python -m pytest -q -p no:cacheprovider \
  tests/integrations/test_langchain.py tests/integrations/test_pymilvus_model.py
.venvs/llamaindex/bin/python -m pytest -q -p no:cacheprovider tests/integrations/test_llamaindex.py
.venvs/haystack/bin/python -m pytest -q -p no:cacheprovider tests/integrations/test_haystack.py
