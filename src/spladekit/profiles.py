"""Encoding profiles, declared once: how ``plain``, ``query`` and ``document`` texts are encoded.

A profile is a route (the model side that encodes), an instruction prepended to each text, a
token limit and a top-k. :func:`encoding_profiles` builds the three from an encoder and the
embedding function's options; :class:`~spladekit.SpladeEmbeddingFunction`, the service's
``prompt_name``, ``spladekit encode`` and :class:`~spladekit.SpladeClient` all take their
settings from it.

- ``plain``: as ``SpladeEmbeddingFunction.__call__``: the document route at the documents'
  max length, no instruction, the model's own top-k;
- ``query``: the query route (an inference-free lookup, or a query encoder of its own) at the
  queries' max length, the query instruction (else the folder's query prompt), ``k_tokens_query``;
- ``document``: the document route at the documents' max length, the document instruction
  (else the folder's document prompt), ``k_tokens_document``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from .checkpoint.spec import Side

ProfileName = Literal["plain", "query", "document"]
PromptName = Literal["query", "document"]
"""The profiles a request names (TEI's ``prompt_name``); no name means ``plain``."""
PROMPT_NAMES: tuple[PromptName, ...] = get_args(PromptName)


class ProfileSource(Protocol):
    """What building profiles reads from an encoder (:class:`~spladekit.SpladeEncoder`)."""

    @property
    def query_max_length(self) -> int: ...

    @property
    def document_max_length(self) -> int: ...

    def prompt(self, side: Side) -> str: ...


@dataclass(frozen=True)
class EncodingProfile:
    """How one kind of text is encoded: what :meth:`~spladekit.SpladeEncoder.encode_profile`
    takes.

    ``top_k`` ``None`` keeps the encoder's default (the model's ``max_active_dims``, if any);
    ``threshold`` ``None`` the encoder's.
    """

    name: str
    side: Side
    instruction: str
    max_length: int
    top_k: int | None
    threshold: float | None = None


def encoding_profiles(
    encoder: ProfileSource,
    *,
    query_instruction: str = "",
    doc_instruction: str = "",
    k_tokens_query: int | None = None,
    k_tokens_document: int | None = None,
) -> dict[ProfileName, EncodingProfile]:
    """The three profiles; an empty instruction means the model folder's prompt for that side
    (as sentence-transformers' ``encode_query``/``encode_document`` apply it)."""
    return {
        "plain": EncodingProfile("plain", "document", "", encoder.document_max_length, None),
        "query": EncodingProfile(
            "query", "query", query_instruction or encoder.prompt("query"),
            encoder.query_max_length, k_tokens_query,
        ),
        "document": EncodingProfile(
            "document", "document", doc_instruction or encoder.prompt("document"),
            encoder.document_max_length, k_tokens_document,
        ),
    }


def profile_for(prompt_name: PromptName | None) -> ProfileName:
    """The profile a request's ``prompt_name`` names (none: ``plain``)."""
    return "plain" if prompt_name is None else prompt_name


def prompt_name_of(profile: ProfileName) -> PromptName | None:
    """The ``prompt_name`` that asks a service for a profile (``plain``: none)."""
    return None if profile == "plain" else profile


__all__ = [
    "PROMPT_NAMES",
    "EncodingProfile",
    "ProfileName",
    "ProfileSource",
    "PromptName",
    "encoding_profiles",
    "profile_for",
    "prompt_name_of",
]
