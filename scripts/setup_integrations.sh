#!/usr/bin/env bash
# Build (idempotent) one virtual environment per framework integration, under .venvs/<framework>:
# the frameworks pin different pymilvus majors (llama-index's Milvus store needs pymilvus < 3),
# so they cannot share the main .venv. Each gets torch 2.13.0 (CPU) first, then spladekit
# (editable, from this checkout) with the framework's extra at the exact releases tested here.
# A rerun with nothing changed is a no-op: a stamp per venv records what it was built from.
# Usage: scripts/setup_integrations.sh [langchain] [llamaindex] [haystack]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH="torch==2.13.0"

# The exact releases tested; pyproject.toml's extras carry the same versions as lower bounds.
pins() {
  case "$1" in
    langchain)
      echo "langchain-milvus==0.4.0 langchain-core==1.8.3 pymilvus==3.0.2 milvus-lite==3.2.2" \
        "pymilvus.model==0.3.4" ;;
    llamaindex)
      echo "llama-index-vector-stores-milvus==1.2.0 llama-index-core==0.14.25 pymilvus==2.6.17" ;;
    haystack)
      echo "haystack-ai==3.4.1 milvus-haystack==0.1.0 huggingface-api-haystack==3.1.0" \
        "pymilvus==3.0.2 milvus-lite==3.2.2" ;;
    *) echo "unknown framework: $1 (expected langchain, llamaindex or haystack)" >&2; return 2 ;;
  esac
}
extras() {
  case "$1" in
    haystack) echo "haystack,serve" ;;  # serve: the TEI-alias tests start `spladekit serve`
    *) echo "$1" ;;
  esac
}

# spladekit's declared dependencies (not the rest of pyproject.toml): a change there rebuilds.
deps_digest() {
  "$PY" -c 'import hashlib, json, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = [project["dependencies"], project["optional-dependencies"]]
print(hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16])'
}

frameworks=("$@")
[ ${#frameworks[@]} -gt 0 ] || frameworks=(langchain llamaindex haystack)
quiet_pip() { "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
for fw in "${frameworks[@]}"; do
  pinned=$(pins "$fw")
  venv=.venvs/$fw
  stamp="$TORCH $pinned [$(extras "$fw")] $(deps_digest)"
  if [ -f "$venv/.spladekit-stamp" ] && [ "$(cat "$venv/.spladekit-stamp")" = "$stamp" ]; then
    echo "$venv: up to date"
    continue
  fi
  echo "$venv: building"
  [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"
  quiet_pip "$venv/bin/python" -m pip install --quiet --upgrade pip
  # torch first, pinned: letting pip resolve "torch" freely pulls a multi-GB CUDA build.
  quiet_pip "$venv/bin/python" -m pip install --quiet "$TORCH"
  # shellcheck disable=SC2086  # $pinned is a list of requirements
  quiet_pip "$venv/bin/python" -m pip install --quiet "$TORCH" -e ".[$(extras "$fw")]" $pinned "pytest>=8"
  echo "$stamp" > "$venv/.spladekit-stamp"
done
