"""The seed example: encode three documents and two queries, show top tokens and scores.

Runs offline on splade-tiny (fetched by scripts/setup.sh). Set SPLADEKIT_MODEL to a hub id or
a folder to use another model, e.g. naver/splade-cocondenser-ensembledistil where the Hub is
reachable.
"""

from __future__ import annotations

import os
from pathlib import Path

from spladekit import SpladeEmbeddingFunction

TINY = Path.home() / ".cache" / "spladekit" / "models" / "splade-tiny"

docs = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
]
queries = ["When was artificial intelligence founded", "Where was Alan Turing born?"]

model = os.environ.get("SPLADEKIT_MODEL", str(TINY))
ef = SpladeEmbeddingFunction(model_name=model, device="cpu")
doc_vectors = ef.encode_documents(docs)
query_vectors = ef.encode_queries(queries)
print(f"model: {model}")
print(f"dim: {ef.dim}  documents: {doc_vectors.shape}  queries: {query_vectors.shape}\n")

explained = ef.decode(doc_vectors, 6) + ef.decode(query_vectors, 6)
for text, tokens in zip(docs + queries, explained, strict=True):
    shown = ", ".join(f"{tok} {weight:.2f}" for tok, weight in tokens)
    print(f"{text[:60]:<60}  {shown}")

scores = (query_vectors @ doc_vectors.T).toarray()
print("\nquery x document scores (dot product)")
for query, row in zip(queries, scores, strict=True):
    cells = "  ".join(f"{s:6.2f}" for s in row)
    print(f"{query[:42]:<42}  {cells}   best: doc {int(row.argmax())}")
