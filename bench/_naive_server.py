"""The naive server of bench_serve.py: one request, one encode.

pymilvus-model's ``SpladeEmbeddingFunction`` behind a minimal FastAPI endpoint that answers
``POST /embed_sparse`` in TEI's response format, as a team without a SPLADE service would write
it. Runs in the reference's own virtual environment (pymilvus-model 0.3.4 needs transformers 4):

    /tmp/ref/venv/bin/python bench/_naive_server.py --model DIR --port 8001 [--lock]

The endpoint is a plain ``def``, so FastAPI runs each request on its thread pool and encodes
concurrently; ``--lock`` serialises the encode calls instead (the reference's tokenizer is not
made for concurrent use, and some deployments add such a lock).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from pymilvus.model.sparse import SpladeEmbeddingFunction


class EmbedRequest(BaseModel):
    inputs: str | list[str]
    prompt_name: str | None = None


def build(model: str, lock: bool) -> FastAPI:
    ef = SpladeEmbeddingFunction(model_name=model, device="cpu")
    guard: Any = threading.Lock() if lock else contextlib.nullcontext()
    app = FastAPI()

    @app.post("/embed_sparse")
    def embed_sparse(request: EmbedRequest) -> list[list[dict[str, Any]]]:
        texts = [request.inputs] if isinstance(request.inputs, str) else request.inputs
        with guard:
            if request.prompt_name == "document":
                matrix = ef.encode_documents(texts)
            else:
                matrix = ef.encode_queries(texts)
        csr = matrix.tocsr()
        return [
            [
                {"index": int(i), "value": float(v)}
                for i, v in zip(
                    csr.indices[csr.indptr[r] : csr.indptr[r + 1]],
                    csr.data[csr.indptr[r] : csr.indptr[r + 1]],
                    strict=True,
                )
                if v != 0
            ]
            for r in range(csr.shape[0])
        ]

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ready"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lock", action="store_true")
    args = parser.parse_args()
    uvicorn.run(build(args.model, args.lock), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
