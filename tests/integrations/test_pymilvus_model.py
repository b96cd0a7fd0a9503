"""SpladeEmbeddingFunction has pymilvus-model's class surface (runs in .venvs/langchain, which
has pymilvus-model installed beside pymilvus 3).

Spec: importing spladekit never imports ``pymilvus.model``; once it is imported (before or after
spladekit), ``SpladeEmbeddingFunction`` is a subclass of its ``BaseEmbeddingFunction``; the
reference's public attributes exist with its meaning. Each check runs in a fresh interpreter,
because which modules a process has imported is the thing under test.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pymilvus.model") is None,
    reason="pymilvus-model is not installed here (it is in .venvs/langchain)",
)

REFERENCE = "pymilvus.model.base"


def run(code: str, model: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_importing_spladekit_does_not_import_pymilvus_model(tiny_model_dir: Path) -> None:
    answer = run(
        "import json, sys, spladekit\n"
        "from spladekit import SpladeEmbeddingFunction\n"
        "ef = SpladeEmbeddingFunction(sys.argv[1])\n"
        "ef.encode_documents(['a text'])\n"
        "loaded = [m for m in sys.modules if m.startswith('pymilvus.model')]\n"
        "print(json.dumps({'imported': loaded}))",
        tiny_model_dir,
    )
    assert answer == {"imported": []}


@pytest.mark.parametrize("first", ["spladekit", "pymilvus.model"])
def test_is_a_base_embedding_function_whichever_is_imported_first(
    first: str, tiny_model_dir: Path
) -> None:
    imports = (
        "import spladekit.embedding_function, pymilvus.model"
        if first == "spladekit"
        else "import pymilvus.model, spladekit.embedding_function"
    )
    answer = run(
        f"import json, sys\n{imports}\n"
        f"from {REFERENCE} import BaseEmbeddingFunction\n"
        "from spladekit import SpladeEmbeddingFunction\n"
        "ef = SpladeEmbeddingFunction(sys.argv[1], device='cpu', k_tokens_query=8,\n"
        "                             query_instruction='q: ', doc_instruction='d: ')\n"
        "print(json.dumps({'isinstance': isinstance(ef, BaseEmbeddingFunction),\n"
        "    'issubclass': issubclass(SpladeEmbeddingFunction, BaseEmbeddingFunction),\n"
        "    'device': ef.device, 'model_name': ef.model_name, 'dim': ef.dim,\n"
        "    'k_tokens_query': ef.k_tokens_query, 'k_tokens_document': ef.k_tokens_document,\n"
        "    'query_instruction': ef.query_instruction, 'doc_instruction': ef.doc_instruction,\n"
        "    'vocab': len(ef.model.tokenizer), 'model_device': ef.model.device,\n"
        "    'model_batch_size': ef.model.batch_size}))",
        tiny_model_dir,
    )
    assert answer == {
        "isinstance": True,
        "issubclass": True,
        "device": "cpu",
        "model_name": str(tiny_model_dir),
        "dim": 30522,
        "k_tokens_query": 8,
        "k_tokens_document": None,
        "query_instruction": "q: ",
        "doc_instruction": "d: ",
        "vocab": 30522,
        "model_device": "cpu",
        "model_batch_size": 32,
    }
