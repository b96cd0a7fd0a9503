"""The collection spladekit creates in Milvus, and how to recognise one.

Fields: ``id`` (VARCHAR primary key), ``vector`` (SPARSE_FLOAT_VECTOR), ``text`` (VARCHAR),
``metadata`` (JSON) and ``empty`` (BOOL); with BM25, also ``bm25`` (SPARSE_FLOAT_VECTOR) that a
Milvus BM25 function fills from ``text``, analysed by the collection's analyzer.

Empty vectors: Milvus Lite refuses a vector without a positive weight, and an empty text, or one
pruned to nothing, encodes to one. Such a document is stored under a placeholder vector
(``{0: EMPTY_PLACEHOLDER_WEIGHT}``: dimension 0 is BERT's [PAD], which queries do not weigh) with
``empty`` true, on every engine alike; :func:`stored_vector` (one row) and
:func:`stored_matrix` (a matrix, for files Milvus bulk import reads) are that rule, and every
writer applies it through them.

The model that built a collection is recorded twice, because no single place survives on every
engine: in the collection's properties (kept by Milvus Lite 3 and Milvus servers) and in the
schema's description (kept by Milvus servers, dropped by Lite).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array

from ..checkpoint.identity import ModelIdentity
from ..errors import StoreError
from ..validation import MAX_ID_BYTES
from ..vectors import Row, empty_rows
from .config import INDEX_ALGOS, INDEX_TYPES
from .input_checks import MAX_TEXT_BYTES

ID_FIELD = "id"
VECTOR_FIELD = "vector"
TEXT_FIELD = "text"
METADATA_FIELD = "metadata"
EMPTY_FIELD = "empty"
BM25_FIELD = "bm25"
BM25_FUNCTION = "text_bm25"

# Analyzers per engine: Milvus Lite 3.2 has only "standard" and "jieba"; a server also has
# "english" (stemming and stop words, what BM25 baselines use).
LITE_ANALYZERS = ("standard", "jieba")
DEFAULT_LITE_ANALYZER = "standard"
DEFAULT_SERVER_ANALYZER = "english"

# The metric of the SPLADE field: SPLADE scores are inner products.
SPARSE_METRIC = "IP"

MODEL_PROPERTY = "spladekit.model"
# Set on every collection spladekit creates (properties survive on Lite 3 and servers).
CREATED_PROPERTY = "spladekit.created"
_DESCRIPTION_PREFIX = "spladekit collection; model="

# The weight of the placeholder vector an empty document is stored under (see above).
EMPTY_PLACEHOLDER_WEIGHT = 1e-6


def stored_vector(row: Row) -> tuple[Row, bool]:
    """(the vector a collection stores for ``row``, whether the document is empty)."""
    if row:
        return row, False
    return {0: EMPTY_PLACEHOLDER_WEIGHT}, True


def stored_matrix(vectors: csr_array) -> tuple[csr_array, NDArray[np.bool_]]:
    """:func:`stored_vector` for every row of a matrix: (the rows stored, which are empty)."""
    empty = empty_rows(vectors)
    if not empty.any():
        return vectors, empty
    rows = np.flatnonzero(empty)
    placeholder = csr_array(
        (np.full(len(rows), EMPTY_PLACEHOLDER_WEIGHT, np.float32),
         (rows, np.zeros(len(rows), np.int64))),
        shape=vectors.shape,
    )
    return csr_array(vectors + placeholder), empty


def build_schema(
    client: Any, pymilvus: Any, model: ModelIdentity | None, analyzer: str | None = None
) -> Any:
    """The collection schema, with the model recorded in its description; with an
    ``analyzer``, the text is analysed and a BM25 function fills the ``bm25`` field."""
    data_type = pymilvus.DataType
    description = _DESCRIPTION_PREFIX + encode_model(model) if model else "spladekit collection"
    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False, description=description
    )
    schema.add_field(ID_FIELD, data_type.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
    schema.add_field(VECTOR_FIELD, data_type.SPARSE_FLOAT_VECTOR)
    if analyzer is None:
        schema.add_field(TEXT_FIELD, data_type.VARCHAR, max_length=MAX_TEXT_BYTES)
    else:
        schema.add_field(
            TEXT_FIELD, data_type.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
            analyzer_params={"type": analyzer},
        )
    schema.add_field(METADATA_FIELD, data_type.JSON)
    schema.add_field(EMPTY_FIELD, data_type.BOOL)
    if analyzer is not None:
        schema.add_field(BM25_FIELD, data_type.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            pymilvus.Function(
                name=BM25_FUNCTION, function_type=pymilvus.FunctionType.BM25,
                input_field_names=[TEXT_FIELD], output_field_names=[BM25_FIELD],
            )
        )
    return schema


def build_index(client: Any, index_type: str | None, algo: str | None, bm25: bool) -> Any:
    index_params = client.prepare_index_params()
    index_params.add_index(
        field_name=VECTOR_FIELD,
        index_type=index_type or INDEX_TYPES[0],
        metric_type=SPARSE_METRIC,
        params={"inverted_index_algo": algo or INDEX_ALGOS[0]},
    )
    if bm25:
        index_params.add_index(
            field_name=BM25_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25"
        )
    return index_params


def bm25_analyzer(described: dict[str, Any]) -> str | None:
    """The analyzer of a collection's BM25 field, or None when it has none.

    Read from the fields (a function output named ``bm25``, an analysed ``text``), which both
    engines report; a Milvus 2.5 server lists no functions in ``describe_collection``.
    """
    fields = {f["name"]: f for f in described.get("fields", [])}
    bm25 = fields.get(BM25_FIELD)
    text = fields.get(TEXT_FIELD) or {}
    if bm25 is None or not bm25.get("is_function_output"):
        return None
    params = text.get("params") or {}
    if str(params.get("enable_analyzer", "")).lower() != "true":
        return None
    try:
        analyzer = json.loads(params.get("analyzer_params") or "{}").get("type")
    except (ValueError, AttributeError):
        analyzer = None
    return str(analyzer or "standard")


def check_fields(described: dict[str, Any], pymilvus: Any, where: str) -> None:
    """Refuse a collection that spladekit did not create: its fields must be exactly
    spladekit's (names, types, primary key), with no dynamic field."""
    data_type = pymilvus.DataType
    expected = {
        ID_FIELD: data_type.VARCHAR,
        VECTOR_FIELD: data_type.SPARSE_FLOAT_VECTOR,
        TEXT_FIELD: data_type.VARCHAR,
        METADATA_FIELD: data_type.JSON,
        EMPTY_FIELD: data_type.BOOL,
    }
    found = {f["name"]: f["type"] for f in described.get("fields", [])}
    if bm25_analyzer(described) is not None:
        expected[BM25_FIELD] = data_type.SPARSE_FLOAT_VECTOR
    primary = [f["name"] for f in described.get("fields", []) if f.get("is_primary")]
    dynamic = bool(described.get("enable_dynamic_field"))
    if found != expected or primary != [ID_FIELD] or dynamic:
        listing = ", ".join(f"{n} {getattr(kind, 'name', kind)}" for n, kind in found.items())
        extra = " and dynamic fields" if dynamic else ""
        raise StoreError(
            f"{where} exists but was not created by spladekit (its fields: {listing}{extra}); "
            "spladekit does not change collections it did not create: choose another "
            "collection name"
        )


def created_by_spladekit(described: dict[str, Any]) -> bool:
    """Whether a collection carries spladekit's mark (its property, or its description)."""
    properties = described.get("properties") or {}
    if isinstance(properties, dict) and (
        CREATED_PROPERTY in properties or MODEL_PROPERTY in properties
    ):
        return True
    return str(described.get("description") or "").startswith("spladekit collection")


def choose_analyzer(is_lite: bool, bm25: bool, analyzer: str | None) -> str | None:
    """The analyzer a new collection's BM25 field gets (None: no BM25 field); ``bm25`` and
    ``analyzer`` as :class:`~spladekit.store.config.StoreConfig` checked them."""
    if not bm25:
        return None
    if analyzer is None:
        return DEFAULT_LITE_ANALYZER if is_lite else DEFAULT_SERVER_ANALYZER
    if is_lite and analyzer not in LITE_ANALYZERS:
        raise StoreError(
            f"Milvus Lite's BM25 supports the analyzers {', '.join(LITE_ANALYZERS)}, not "
            f"{analyzer!r}; use one of them, or a Milvus server (which also has 'english')"
        )
    return analyzer


def encode_model(model: ModelIdentity) -> str:
    return json.dumps({"name": model.name, "fingerprint": model.fingerprint})


def recorded_model(described: dict[str, Any]) -> ModelIdentity | None:
    """The model a described collection records, from its properties or its description."""
    properties = described.get("properties") or {}
    raw = properties.get(MODEL_PROPERTY) if isinstance(properties, dict) else None
    if not raw:
        description = str(described.get("description") or "")
        if description.startswith(_DESCRIPTION_PREFIX):
            raw = description[len(_DESCRIPTION_PREFIX) :]
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return ModelIdentity(str(data["name"]), str(data["fingerprint"]))
    except (ValueError, KeyError, TypeError):
        return None


__all__ = [
    "BM25_FIELD",
    "CREATED_PROPERTY",
    "DEFAULT_LITE_ANALYZER",
    "DEFAULT_SERVER_ANALYZER",
    "EMPTY_FIELD",
    "EMPTY_PLACEHOLDER_WEIGHT",
    "ID_FIELD",
    "LITE_ANALYZERS",
    "METADATA_FIELD",
    "MODEL_PROPERTY",
    "SPARSE_METRIC",
    "TEXT_FIELD",
    "VECTOR_FIELD",
    "bm25_analyzer",
    "build_index",
    "build_schema",
    "check_fields",
    "choose_analyzer",
    "created_by_spladekit",
    "encode_model",
    "recorded_model",
    "stored_matrix",
    "stored_vector",
]
