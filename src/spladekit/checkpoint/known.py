"""The SPLADE checkpoints people use, as data: name, family, backbone, licence, notes.

Read by :class:`~spladekit.checkpoint.description.ModelDescription` (the licence of a loaded
model) and shown whole, every field, by the README's table of published checkpoints (a test
checks that the two agree). Licences are the publishers' own; naver's models are non-commercial.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MODEL = "naver/splade-cocondenser-ensembledistil"

NAVER = "CC BY-NC-SA 4.0 (non-commercial)"
APACHE = "Apache-2.0"


@dataclass(frozen=True)
class ModelInfo:
    """What we know about a published SPLADE checkpoint."""

    name: str
    family: str
    backbone: str
    licence: str
    note: str


_SPLADE = "SPLADE (one masked-LM for queries and documents)"
_INFERENCE_FREE = "inference-free (documents by a masked-LM, queries by an IDF lookup)"
_PAIR = "query/document encoder pair (efficient-SPLADE)"

KNOWN_MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo(DEFAULT_MODEL, _SPLADE, "BERT-base", NAVER,
                  "SPLADE++ ensemble distillation; the default"),
        ModelInfo("naver/splade-cocondenser-selfdistil", _SPLADE, "BERT-base", NAVER,
                  "SPLADE++ self-distillation"),
        ModelInfo("naver/splade_v2_max", _SPLADE, "DistilBERT", NAVER, "SPLADE v2, max pooling"),
        ModelInfo("naver/splade_v2_distil", _SPLADE, "DistilBERT", NAVER,
                  "SPLADE v2 with distillation"),
        ModelInfo("naver/splade-v3", _SPLADE, "BERT-base", NAVER, "SPLADE v3"),
        ModelInfo("naver/splade-v3-distilbert", _SPLADE, "DistilBERT", NAVER,
                  "SPLADE v3 on DistilBERT"),
        ModelInfo("naver/efficient-splade-V-large-doc", _PAIR, "BERT-large / BERT-tiny", NAVER,
                  "document side of efficient-SPLADE V (its query model is a separate repo)"),
        ModelInfo("naver/efficient-splade-VI-BT-large-doc", _PAIR, "BERT-large / BERT-tiny",
                  NAVER, "document side of efficient-SPLADE VI-BT"),
        ModelInfo("opensearch-project/opensearch-neural-sparse-encoding-v1", _SPLADE,
                  "BERT-base", APACHE, "bi-encoder"),
        ModelInfo("opensearch-project/opensearch-neural-sparse-encoding-v2-distill", _SPLADE,
                  "DistilBERT", APACHE, "bi-encoder"),
        ModelInfo("opensearch-project/opensearch-neural-sparse-encoding-doc-v1",
                  _INFERENCE_FREE, "BERT-base", APACHE, "idf.json query side"),
        ModelInfo("opensearch-project/opensearch-neural-sparse-encoding-doc-v2-distill",
                  _INFERENCE_FREE, "DistilBERT", APACHE, "idf.json query side"),
        ModelInfo("opensearch-project/opensearch-neural-sparse-encoding-doc-v2-mini",
                  _INFERENCE_FREE, "MiniLM (BERT)", APACHE, "idf.json query side"),
        ModelInfo("opensearch-project/opensearch-neural-sparse-encoding-doc-v3-distill",
                  _INFERENCE_FREE, "DistilBERT", APACHE,
                  "documents use log1p(log1p(relu(x))): in a plain folder pass "
                  "activation='log1p_relu'"),
        ModelInfo("opensearch-project/opensearch-neural-sparse-encoding-multilingual-v1",
                  _INFERENCE_FREE, "XLM-RoBERTa-base (250,002 tokens)", APACHE,
                  "multilingual; idf.json query side"),
        ModelInfo("prithivida/Splade_PP_en_v1", _SPLADE, "BERT-base", APACHE,
                  "SPLADE++ reproduction"),
        ModelInfo("prithivida/Splade_PP_en_v2", _SPLADE, "BERT-base", APACHE,
                  "SPLADE++ reproduction, v2"),
        ModelInfo("ibm-granite/granite-embedding-30m-sparse", _SPLADE,
                  "RoBERTa (50,265 tokens)", APACHE, "30M parameters"),
    )
}

__all__ = ["APACHE", "DEFAULT_MODEL", "KNOWN_MODELS", "NAVER", "ModelInfo"]
