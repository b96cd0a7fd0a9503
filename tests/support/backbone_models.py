"""Tiny random masked-LM checkpoints of each supported backbone, saved like real ones.

Each builder trains a small tokenizer of the family's kind with the ``tokenizers`` library
(byte-level BPE for RoBERTa and ModernBERT, SentencePiece-style Unigram for XLM-RoBERTa and
CamemBERT), wraps it in the family's transformers tokenizer class, builds a seeded random
``*ForMaskedLM`` (hidden 32, 2 layers, 2 heads, intermediate 64) and saves both with
``save_pretrained`` (safetensors), so that ``AutoTokenizer`` and ``AutoModelForMaskedLM`` load
the folder as they would a published checkpoint. :func:`tiny_distilbert_mlm` builds the
DistilBERT document encoder of the two-encoder family on splade-tiny's tokenizer. This is the
one home of the tests' random backbones (tests/support/checkpoints.py, test_backbones.py and
test_onnx.py import it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

RobertaFamily = Literal["roberta", "xlm-roberta", "camembert"]
ROBERTA_FAMILY: tuple[RobertaFamily, ...] = ("roberta", "xlm-roberta", "camembert")
BACKBONES = (*ROBERTA_FAMILY, "modernbert")

# Training text for the tokenizers, and texts for tests: English and French, short and long.
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Proteins fold into shapes that decide what they do in the cell.",
    "Vitamin D deficiency is associated with an increased risk of fractures.",
    "Paris is the capital and most populous city of France.",
    "La recherche d'information consiste à retrouver des documents pertinents.",
    "Les protéines se replient en formes qui décident de leur fonction.",
    "who invented the telephone",
    "what causes the seasons on earth",
    "Insulin resistance precedes type 2 diabetes by several years in most patients.",
    "A randomized trial of 400 patients found no benefit of the drug over placebo.",
    "Graphene conducts electricity better than copper at room temperature.",
    "Le chat dort sur le canapé pendant que la pluie tombe dehors.",
)

_SIZES: dict[str, Any] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}
_MAX_LENGTH = 512


def _corpus() -> list[str]:
    # Repeated with small variations so that trainers see enough pairs to merge.
    return [s for s in SENTENCES for _ in range(3)] + [s.lower() for s in SENTENCES]


def _train_bpe(special: list[str], vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_corpus(), trainer)
    return tokenizer


def _bpe_vocab_and_merges(tokenizer: Any) -> tuple[dict[str, int], list[tuple[str, str]]]:
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def _train_unigram(special: list[str], vocab_size: int) -> list[tuple[str, float]]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=special, unk_token="<unk>", show_progress=False
    )
    tokenizer.train_from_iterator(_corpus(), trainer)
    return [(str(p), float(s)) for p, s in json.loads(tokenizer.to_str())["model"]["vocab"]]


def _roberta_tokenizer(model_type: RobertaFamily) -> Any:
    from transformers import CamembertTokenizer, RobertaTokenizer, XLMRobertaTokenizer

    if model_type == "roberta":
        # RoBERTa's ids: <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> 4.
        bpe = _train_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], 700)
        vocab, merges = _bpe_vocab_and_merges(bpe)
        return RobertaTokenizer(vocab=vocab, merges=merges)
    if model_type == "xlm-roberta":
        # XLM-R's ids: <s> 0, <pad> 1, </s> 2, <unk> 3, ..., <mask> last.
        pieces = _train_unigram(["<s>", "<pad>", "</s>", "<unk>"], 500)
        return XLMRobertaTokenizer(vocab=[*pieces, ("<mask>", 0.0)])
    # CamemBERT's ids: <s>NOTUSED 0, <pad> 1, </s>NOTUSED 2, <unk> 3, <s> 5, </s> 6, <mask> last.
    pieces = _train_unigram(
        ["<s>NOTUSED", "<pad>", "</s>NOTUSED", "<unk>", "<unk>NOTUSED", "<s>", "</s>"], 500
    )
    return CamembertTokenizer(vocab=[*pieces, ("<mask>", 0.0)])


def roberta_classes(model_type: RobertaFamily) -> tuple[Any, Any]:
    """(config class, masked-LM class) of a RoBERTa-family backbone."""
    from transformers import (
        CamembertConfig,
        CamembertForMaskedLM,
        RobertaConfig,
        RobertaForMaskedLM,
        XLMRobertaConfig,
        XLMRobertaForMaskedLM,
    )

    classes = {
        "roberta": (RobertaConfig, RobertaForMaskedLM),
        "xlm-roberta": (XLMRobertaConfig, XLMRobertaForMaskedLM),
        "camembert": (CamembertConfig, CamembertForMaskedLM),
    }
    return classes[model_type]


def _save_random(model_class: Any, config: Any, tokenizer: Any, folder: Path) -> Path:
    """A seeded random ``model_class(config)`` with random biases, saved with its tokenizer."""
    import torch

    torch.manual_seed(0)
    model = model_class(config).eval()
    _randomise_biases(model)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def make_roberta(folder: Path, *, model_type: RobertaFamily = "roberta") -> Path:
    """A random RoBERTa, XLM-RoBERTa or CamemBERT masked-LM with its tokenizer, in ``folder``."""
    config_class, model_class = roberta_classes(model_type)
    tokenizer = _roberta_tokenizer(model_type)
    tokenizer.model_max_length = _MAX_LENGTH
    config = config_class(
        vocab_size=len(tokenizer),
        # Position ids start at pad + 1, so the table holds two more rows than the length limit.
        max_position_embeddings=_MAX_LENGTH + tokenizer.pad_token_id + 1,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **_SIZES,
    )
    return _save_random(model_class, config, tokenizer, folder)


def _modernbert_tokenizer() -> Any:
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    # ModernBERT's special tokens come after the BPE vocabulary ([PAD] is 50283 in the real
    # one), so its pad id is neither 0 nor 1.
    bpe = _train_bpe([], 600)
    special = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    bpe.add_special_tokens(special)
    cls, sep = bpe.token_to_id("[CLS]"), bpe.token_to_id("[SEP]")
    bpe.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        pad_token="[PAD]", mask_token="[MASK]", model_max_length=_MAX_LENGTH,
    )


def make_modernbert(folder: Path, *, local_attention: int = 8) -> Path:
    """A random ModernBERT masked-LM with its tokenizer, in ``folder``.

    Layer 0 attends globally, layer 1 locally (a window of ``local_attention`` tokens; 8 by
    default, so texts of the tests, 10 to 40 tokens, exercise both); rotary position
    embeddings as in the real model.
    """
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    tokenizer = _modernbert_tokenizer()
    config = ModernBertConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=_MAX_LENGTH,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        global_attn_every_n_layers=2,
        local_attention=local_attention,
        **_SIZES,
    )
    return _save_random(ModernBertForMaskedLM, config, tokenizer, folder)


def _randomise_biases(model: Any) -> None:
    # transformers initialises the decoder bias to zeros; a random one makes tests see it (a
    # pipeline that dropped the bias would still pass with zeros).
    import torch

    bias = model.get_output_embeddings().bias
    if bias is not None:
        with torch.no_grad():
            bias.copy_(torch.randn(bias.shape, generator=torch.Generator().manual_seed(1)) * 0.1)


def tiny_distilbert_mlm(out: Path, tiny: Path, seed: int = 11) -> Path:
    """A seeded random DistilBERT masked LM with splade-tiny's tokenizer (30522 entries).

    Its head's bias is shifted so that about 0.1% of the logits are positive: over 30522
    entries a random head's logits sit around 0 and would make every vector half dense.
    """
    import torch
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForMaskedLM

    torch.manual_seed(seed)
    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=512, pad_token_id=0)
    model = DistilBertForMaskedLM(config).eval()
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, config.vocab_size, (2, 24), generator=generator)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        model.get_output_embeddings().bias -= torch.quantile(logits.flatten()[:100_000], 0.999)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(tiny)).save_pretrained(str(out))
    return out


def make_backbone(folder: Path, backbone: str) -> Path:
    """The builder for ``backbone`` (one of :data:`BACKBONES`)."""
    if backbone == "modernbert":
        return make_modernbert(folder)
    if backbone not in ROBERTA_FAMILY:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {backbone!r}")
    return make_roberta(folder, model_type=backbone)  # type: ignore[arg-type]


class BackboneDirs(Mapping[str, Path]):
    """Each backbone's folder under ``root``, built on first use (a session shares them)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}

    def __getitem__(self, backbone: str) -> Path:
        if backbone not in self._built:
            self._built[backbone] = make_backbone(self.root / backbone, backbone)
        return self._built[backbone]

    def __iter__(self) -> Iterator[str]:
        return iter(BACKBONES)

    def __len__(self) -> int:
        return len(BACKBONES)


__all__ = [
    "BACKBONES",
    "ROBERTA_FAMILY",
    "SENTENCES",
    "BackboneDirs",
    "make_backbone",
    "make_modernbert",
    "make_roberta",
    "roberta_classes",
    "tiny_distilbert_mlm",
]
