"""Token ids for the encoder: thread-safe, and as fast as the Rust tokenizer allows.

transformers' tokenizer ``__call__`` reconfigures truncation and padding on the shared Rust
tokenizer at every call (state that concurrent calls race on) and costs ~0.15 ms of Python per
call, which a single query feels. :class:`TokenIds` keeps its own copy of the Rust tokenizer,
configured once with neither truncation nor padding, and only reads it afterwards.

Every supported family wraps one text as ``cls + content + sep`` (its ``tokens`` field in
:mod:`spladekit.checkpoint.families`: BERT's ``[CLS] ... [SEP]``, the RoBERTa family's
``<s> ... </s>``); :class:`TokenIds` checks at
construction that the tokenizer's own template says so, which is what sentence-transformers and
transformers feed the model, and refuses a tokenizer whose template differs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Literal

from .errors import InvalidArgumentError, UnsupportedModelError

Truncation = Literal["right", "left", "error"]
TRUNCATIONS: tuple[Truncation, ...] = ("right", "left", "error")

# A text is first tokenised from a prefix of this many characters per token needed: a huge
# text then costs what its first few thousand characters cost. The prefix is used only when
# the tokens kept end well before the cut (_CUT_MARGIN characters), where cutting cannot have
# changed them (BERT's pre-tokenizer splits words at spaces and punctuation, and a word over
# 100 characters is one [UNK] whether cut or not).
_CHARS_PER_TOKEN = 16
_MIN_PREFIX = 8192
_CUT_MARGIN = 1024


# A text whose tokens the template check compares, with and without special tokens.
_TEMPLATE_PROBE = "Hello world, a template check."


class TokenIds:
    """Token ids of texts, with [CLS]/[SEP] (``<s>``/``</s>``), for one model's tokenizer.

    ``pad_id`` is the id batches are padded with: the tokenizer's pad token (0 for BERT, 1 for
    the RoBERTa family, whose 0 is ``<s>``), 0 when it has none.

    ``lowercase`` lowercases texts first where the tokenizer does not already (what
    sentence-transformers' ``do_lower_case`` does); ``require_special=False`` accepts a
    tokenizer without [CLS]/[SEP], for routes that tokenise without special tokens.
    """

    def __init__(
        self, tokenizer: Any, *, lowercase: bool = False, require_special: bool = True
    ) -> None:
        self.cls_id: int | None = tokenizer.cls_token_id
        self.sep_id: int | None = tokenizer.sep_token_id
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id: int = int(pad) if isinstance(pad, int) else 0
        backend = getattr(tokenizer, "backend_tokenizer", None) if tokenizer.is_fast else None
        self._slow: Any = None
        self._lowercase = False
        self._lock = threading.Lock()
        if backend is not None:
            from tokenizers import Tokenizer

            self._fast: Any = Tokenizer.from_str(backend.to_str())
            self._fast.no_truncation()
            self._fast.no_padding()
            self._encode_batch: Any = getattr(
                self._fast, "encode_batch_fast", self._fast.encode_batch
            )
            if lowercase:
                _add_lowercase(self._fast)
        else:  # a Python tokenizer: correct but slow, and serialised for thread safety
            self._fast = None
            self._slow = tokenizer
            self._lowercase = lowercase
        if require_special and (self.cls_id is None or self.sep_id is None):
            raise UnsupportedModelError(
                "the tokenizer has no [CLS] or [SEP] (<s>, </s>) token; spladekit supports "
                "masked-LM checkpoints whose tokenizer wraps a text in them (every family of "
                "spladekit.checkpoint.supported_model_types())"
            )
        if require_special:  # routes without special tokens never add them
            self._check_template()

    def _check_template(self) -> None:
        """Refuse a tokenizer whose own template is not cls + content + sep."""
        content = self._encode([_TEMPLATE_PROBE], special=False)[0]
        want = [int(self.cls_id or 0), *content, int(self.sep_id or 0)]
        got = self._encode([_TEMPLATE_PROBE], special=True)[0]
        if got != want:
            raise UnsupportedModelError(
                f"the tokenizer wraps a text as {self._describe(got, want)}, not as its cls "
                "token + the text + its sep token, which spladekit feeds the model; spladekit "
                "supports tokenizers with that template (each family's `tokens` in "
                "spladekit.checkpoint.families)"
            )

    def _describe(self, got: list[int], want: list[int]) -> str:
        content = want[1:-1]
        for start in range(len(got) - len(content) + 1):
            if got[start : start + len(content)] == content:
                return f"ids {got[:start]} + the text + ids {got[start + len(content):]}"
        return f"ids {got[:8]}..."

    def _encode(self, texts: Sequence[str], special: bool) -> list[list[int]]:
        if self._lowercase:
            texts = [t.lower() for t in texts]
        if self._fast is not None:
            # encode_batch_fast (tokenizers >= 0.21) skips the character offsets, which only
            # _from_prefix needs (it calls encode itself): ~10% of a lone query's cost.
            return [e.ids for e in self._encode_batch(list(texts), add_special_tokens=special)]
        with self._lock:
            ids: list[list[int]] = self._slow(
                list(texts), add_special_tokens=special, truncation=False, verbose=False
            )["input_ids"]
        return ids

    def content(self, texts: Sequence[str]) -> list[list[int]]:
        """Every token of each text, without [CLS]/[SEP] (for windows)."""
        return self._encode(texts, special=False)

    def truncated(
        self, texts: Sequence[str], limit: int, truncation: Truncation = "right"
    ) -> tuple[list[list[int]], list[bool]]:
        """([CLS] + at most ``limit - 2`` tokens + [SEP] per text, whether each was cut).

        ``right`` keeps the first tokens (as transformers truncates), ``left`` the last ones;
        ``error`` refuses a text over the limit.
        """
        body = limit - 2
        contents: list[list[int] | None] = [None] * len(texts)
        if truncation == "right":  # only right truncation can start from a prefix
            for i, text in enumerate(texts):
                if len(text) > max(_MIN_PREFIX, _CHARS_PER_TOKEN * limit):
                    contents[i] = self._from_prefix(text, body)
        rest = [i for i, ids in enumerate(contents) if ids is None]
        for i, ids in zip(rest, self._encode([texts[i] for i in rest], special=False), strict=True):
            contents[i] = ids
        out: list[list[int]] = []
        cut: list[bool] = []
        for i, found in enumerate(contents):
            ids, was_cut = cut_tokens(found or [], body, truncation, i, special=2)
            cut.append(was_cut)
            out.append([self.cls_id, *ids, self.sep_id])  # type: ignore[list-item]
        return out, cut

    def _from_prefix(self, text: str, body: int) -> list[int] | None:
        """The first ``body + 1`` tokens of a huge text from a prefix, or None if unsure."""
        if self._fast is None:
            return None
        size = max(_MIN_PREFIX, _CHARS_PER_TOKEN * (body + 2))
        encoding = self._fast.encode(text[:size], add_special_tokens=False)
        offsets = encoding.offsets
        # One token past the limit, so that the text is counted as cut.
        if len(offsets) > body and offsets[body][1] <= size - _CUT_MARGIN:
            return list(encoding.ids[: body + 1])
        return None


def cut_tokens(
    ids: list[int], body: int, truncation: Truncation, position: int, *, special: int = 0
) -> tuple[list[int], bool]:
    """At most ``body`` content tokens of one text, as ``truncation`` says, and whether any
    were cut; ``error`` refuses a text over the limit (``special`` tokens count in it)."""
    if len(ids) <= body:
        return ids, False
    if truncation == "error":
        raise InvalidArgumentError(
            f"text at position {position} has {len(ids) + special} tokens, more than the limit "
            f"of {body + special}; shorten it, or allow truncation"
        )
    return (ids[:body] if truncation == "right" else ids[len(ids) - body :]), True


def _add_lowercase(tokenizer: Any) -> None:
    """Put a Lowercase normalizer in front, unless the tokenizer lowercases already."""
    import json

    from tokenizers import normalizers

    current = tokenizer.normalizer
    described = json.dumps(json.loads(tokenizer.to_str()).get("normalizer"))
    if '"Lowercase"' in described or '"lowercase": true' in described:
        return
    steps = [normalizers.Lowercase()]
    if current is not None:
        steps.append(current)
    tokenizer.normalizer = normalizers.Sequence(steps)


__all__ = ["TRUNCATIONS", "TokenIds", "Truncation", "cut_tokens"]
