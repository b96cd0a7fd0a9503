"""Store settings, declared once: :class:`StoreConfig`.

:func:`~spladekit.store.open_store`, :class:`~spladekit.store.milvus.MilvusStore`, the CLI, the
service (:class:`~spladekit.serve.config.ServeConfig`) and the Ray jobs all take where a
collection lives and how it is created from this one frozen dataclass; the CLI derives its
choices and defaults from it. Each setting has one name, Milvus's own where Milvus has one
(``inverted_index_algo``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ..errors import InputTypeError, InvalidArgumentError
from ..options import OptionSet
from ..validation import choice, flag, non_negative_number
from .lite import is_lite_uri

DEFAULT_URI = "spladekit.db"
DEFAULT_COLLECTION = "spladekit"
MEMORY_URI = "memory://"
SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")

IndexType = Literal["SPARSE_INVERTED_INDEX", "SPARSE_WAND"]
IndexAlgo = Literal["DAAT_MAXSCORE", "DAAT_WAND", "TAAT_NAIVE"]
INDEX_TYPES: tuple[IndexType, ...] = get_args(IndexType)
INDEX_ALGOS: tuple[IndexAlgo, ...] = get_args(IndexAlgo)
LITE_INDEX_TYPES: tuple[IndexType, ...] = ("SPARSE_INVERTED_INDEX",)


def check_uri(uri: object) -> str:
    """A Milvus Lite file (``*.db``) or a server address."""
    if not isinstance(uri, str) or not uri:
        raise InputTypeError(f"uri must be a non-empty str, got {uri!r}")
    if not is_lite_uri(uri) and not uri.startswith(SERVER_SCHEMES):
        raise InvalidArgumentError(
            f"uri must be a Milvus Lite file ending in .db (such as {DEFAULT_URI}) or a "
            f"server address such as http://localhost:19530; got {uri!r}"
        )
    return uri


@dataclass(frozen=True)
class StoreConfig(OptionSet):
    """Where a collection lives, and how it is created and adopted.

    - ``uri``: a Milvus Lite file (``*.db``), a server address (``http://host:19530``), or
      ``memory://`` (:class:`~spladekit.store.memory.MemoryStore`, which has one collection and
      no index: it uses ``allow_other_model`` only); ``token``: a server's token
      (``user:password`` or an API key); ``timeout``: seconds each Milvus call may take;
    - ``collection``: the collection's name;
    - ``index_type`` (``SPARSE_INVERTED_INDEX``, or ``SPARSE_WAND`` on a server) and
      ``inverted_index_algo`` (``DAAT_MAXSCORE`` by default, ``DAAT_WAND``, ``TAAT_NAIVE``;
      Milvus Lite searches exactly whichever is named): the index of a new collection;
      ``None`` means the default then, and whatever an existing collection has otherwise;
    - ``bm25``: a new collection also gets Milvus's BM25 over its text (the ``bm25`` and
      ``hybrid`` search modes), analysed by ``analyzer`` (default: ``standard`` on Milvus
      Lite, ``english`` on a server);
    - ``allow_other_model``: take vectors of a model other than the one the collection
      records (their scores will not be comparable).
    """

    uri: str = DEFAULT_URI
    collection: str = DEFAULT_COLLECTION
    token: str | None = field(default=None, repr=False)
    timeout: float | None = None
    index_type: IndexType | None = None
    inverted_index_algo: IndexAlgo | None = None
    bm25: bool = False
    analyzer: str | None = None
    allow_other_model: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.collection, str) or not self.collection:
            raise InputTypeError(f"collection must be a non-empty str, got {self.collection!r}")
        if self.index_type is not None:
            choice("index_type", self.index_type, INDEX_TYPES)
        if self.inverted_index_algo is not None:
            choice("inverted_index_algo", self.inverted_index_algo, INDEX_ALGOS)
        if self.uri != MEMORY_URI:
            check_uri(self.uri)
        if self.token is not None and not isinstance(self.token, str):
            raise InputTypeError(f"token must be a str or None, got {type(self.token).__name__}")
        if self.timeout is not None:
            non_negative_number("timeout", self.timeout)
        for name in ("bm25", "allow_other_model"):
            flag(name, getattr(self, name))
        if self.analyzer is not None:
            if not isinstance(self.analyzer, str) or not self.analyzer:
                raise InputTypeError(f"analyzer must be a non-empty str, got {self.analyzer!r}")
            if not self.bm25:
                raise InvalidArgumentError(
                    "analyzer applies to the BM25 field: pass bm25=True with it"
                )

    @property
    def where(self) -> str:
        """What error messages call the collection: its name and URI."""
        return f"collection {self.collection!r} at {self.uri!r}"

    def existing(self) -> StoreConfig:
        """The same collection without the settings that apply when one is created: what a
        process opening a collection that another created needs (Ray's write tasks)."""
        return StoreConfig(self.uri, self.collection, self.token, self.timeout)

    @classmethod
    def build(cls, uri: str | StoreConfig, settings: Mapping[str, Any]) -> StoreConfig:
        """A config from a URI (or a config) and keyword settings over it; unknown names are
        refused, listing the valid ones."""
        if isinstance(uri, StoreConfig):
            config, rest = cls.split(settings, base=uri)
        else:
            config, rest = cls.split({"uri": uri, **settings})
        if rest:
            raise InputTypeError(
                f"unknown store setting(s) {', '.join(sorted(rest))}; valid: "
                f"{', '.join(cls.field_names())}"
            )
        return config


__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_URI",
    "INDEX_ALGOS",
    "INDEX_TYPES",
    "LITE_INDEX_TYPES",
    "MEMORY_URI",
    "SERVER_SCHEMES",
    "IndexAlgo",
    "IndexType",
    "StoreConfig",
    "check_uri",
]
