"""Components for the frameworks Milvus users already work in.

- :mod:`spladekit.integrations.langchain`: ``SpladeSparseEmbedding`` for ``langchain_milvus``
  (``pip install "spladekit[langchain]"``);
- :mod:`spladekit.integrations.llamaindex`: ``SpladeSparseEmbeddingFunction`` for llama-index's
  ``MilvusVectorStore`` (``pip install "spladekit[llamaindex]"``);
- :mod:`spladekit.integrations.haystack`: ``SpladeSparseTextEmbedder`` and
  ``SpladeSparseDocumentEmbedder`` (``pip install "spladekit[haystack]"``).

Importing this package imports no framework; each module imports its own.
"""

from __future__ import annotations
