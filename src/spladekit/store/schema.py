"""The collection spladekit creates in Milvus, and how to recognise one.

Fields: ``id`` (VARCHAR primary key), ``vector`` (SPARSE_FLOAT_VECTOR), ``text`` (VARCHAR),
``metadata`` (JSON) and ``empty`` (BOOL). The model that built a collection is recorded twice,
because no single place survives on every engine: in the collection's properties (kept by Milvus
Lite 3 and Milvus servers) and in the schema's description (kept by Milvus servers, dropped by
Lite).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import StoreError
from .base import MAX_ID_BYTES, MAX_TEXT_BYTES, ModelIdentity

ID_FIELD = "id"
VECTOR_FIELD = "vector"
TEXT_FIELD = "text"
METADATA_FIELD = "metadata"
EMPTY_FIELD = "empty"

INDEX_TYPES = ("SPARSE_INVERTED_INDEX", "SPARSE_WAND")
INDEX_ALGOS = ("DAAT_MAXSCORE", "DAAT_WAND", "TAAT_NAIVE")
LITE_INDEX_TYPES = ("SPARSE_INVERTED_INDEX",)

MODEL_PROPERTY = "spladekit.model"
_DESCRIPTION_PREFIX = "spladekit collection; model="


def build_schema(client: Any, pymilvus: Any, model: ModelIdentity | None) -> Any:
    """The collection schema, with the model recorded in its description."""
    data_type = pymilvus.DataType
    description = _DESCRIPTION_PREFIX + encode_model(model) if model else "spladekit collection"
    schema = client.create_schema(
        auto_id=False, enable_dynamic_field=False, description=description
    )
    schema.add_field(ID_FIELD, data_type.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
    schema.add_field(VECTOR_FIELD, data_type.SPARSE_FLOAT_VECTOR)
    schema.add_field(TEXT_FIELD, data_type.VARCHAR, max_length=MAX_TEXT_BYTES)
    schema.add_field(METADATA_FIELD, data_type.JSON)
    schema.add_field(EMPTY_FIELD, data_type.BOOL)
    return schema


def build_index(client: Any, index_type: str | None, algo: str | None) -> Any:
    index_params = client.prepare_index_params()
    index_params.add_index(
        field_name=VECTOR_FIELD,
        index_type=index_type or INDEX_TYPES[0],
        metric_type="IP",
        params={"inverted_index_algo": algo or INDEX_ALGOS[0]},
    )
    return index_params


def check_fields(described: dict[str, Any], pymilvus: Any, where: str) -> None:
    """Refuse a collection that spladekit did not create."""
    data_type = pymilvus.DataType
    expected = {
        ID_FIELD: data_type.VARCHAR,
        VECTOR_FIELD: data_type.SPARSE_FLOAT_VECTOR,
        TEXT_FIELD: data_type.VARCHAR,
        METADATA_FIELD: data_type.JSON,
        EMPTY_FIELD: data_type.BOOL,
    }
    found = {f["name"]: f["type"] for f in described.get("fields", [])}
    primary = [f["name"] for f in described.get("fields", []) if f.get("is_primary")]
    if any(found.get(name) != kind for name, kind in expected.items()) or primary != [ID_FIELD]:
        listing = ", ".join(f"{n} {getattr(kind, 'name', kind)}" for n, kind in found.items())
        raise StoreError(
            f"{where} exists but was not created by spladekit (its fields: {listing}); choose "
            "another collection name"
        )


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
    "EMPTY_FIELD",
    "ID_FIELD",
    "INDEX_ALGOS",
    "INDEX_TYPES",
    "LITE_INDEX_TYPES",
    "METADATA_FIELD",
    "MODEL_PROPERTY",
    "TEXT_FIELD",
    "VECTOR_FIELD",
    "build_index",
    "build_schema",
    "check_fields",
    "encode_model",
    "recorded_model",
]
