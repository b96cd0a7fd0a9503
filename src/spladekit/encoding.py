"""What crosses the encoding seam: texts tokenised for a profile in, vectors and counts out.

:meth:`~spladekit.SpladeEncoder.tokenize` makes a :class:`Tokenized`;
:meth:`~spladekit.SpladeEncoder.encode_tokenized` turns one (or several, sliced and joined by
text) into an :class:`Encoded`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .profiles import EncodingProfile
from .routes import TokenBatch
from .vectors import SparseVectors


@dataclass(frozen=True)
class EncodeStats:
    """What one encode call did: texts, model inputs (windows count apart), cut texts, tokens."""

    texts: int
    sequences: int
    truncated: int
    tokens: int


@dataclass(frozen=True)
class Encoded:
    """The vectors of one encode call and what it did."""

    vectors: SparseVectors
    stats: EncodeStats


@dataclass(frozen=True)
class Tokenized:
    """Texts tokenised for one profile (:meth:`SpladeEncoder.tokenize`): slice and join them
    by text to encode several requests' texts in one :meth:`SpladeEncoder.encode_tokenized`."""

    profile: EncodingProfile
    tokens: TokenBatch

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def counts(self) -> list[int]:
        """Tokens each text feeds the model."""
        return self.tokens.counts

    def slice(self, lo: int, hi: int) -> Tokenized:
        return Tokenized(self.profile, self.tokens.slice(lo, hi))

    @staticmethod
    def join(parts: Sequence[Tokenized]) -> Tokenized:
        """One batch of the parts' texts, in order (all of one profile)."""
        if len({p.profile for p in parts}) != 1:
            raise ValueError("only texts tokenised for one profile can be joined")
        return Tokenized(parts[0].profile, TokenBatch.join([p.tokens for p in parts]))


__all__ = ["EncodeStats", "Encoded", "Tokenized"]
