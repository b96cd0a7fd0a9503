"""Seeded random tiny masked LMs for the backbones splade-tiny cannot stand in for.

DistilBERT reuses splade-tiny's tokenizer; RoBERTa, XLM-RoBERTa, CamemBERT and ModernBERT get a
tokenizer trained here with the ``tokenizers`` library, of the kind each publishes (byte-level
BPE, SentencePiece-style unigram). Each writer saves a plain Hugging Face folder and returns it.
tests/backbone_models.py (the new backbones' own builders) may replace :data:`BACKBONES`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# What the trained tokenizers of the random backbones learn from (the test texts' words too).
CORPUS = [
    "Vitamin D deficiency is associated with an increased risk of fractures.",
    "who invented the telephone",
    "The quick brown fox jumps over the lazy dog in Paris.",
    "Protein folding is guided by hydrophobic collapse and the formation of secondary structure.",
    "Graphene conducts electricity better than copper at room temperature.",
    "query: passage: what is the capital of France? Paris is the capital of France.",
    "Le chat est sur la table. Die Katze ist auf dem Tisch. El gato está en la mesa.",
    "Sparse retrieval models expand queries and documents over the vocabulary.",
    "Milvus stores sparse vectors in an inverted index for inner product search.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG, x y z 0 1 2 3 4 5 6 7 8 9.",
]


def _sparse_head(model: Any, seed: int) -> None:
    """Shift the random MLM head's bias so that about 0.1% of the logits are positive (a random
    head's logits sit around 0, which would make every vector half dense)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, model.config.vocab_size, (2, 24), generator=generator)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        head = model.get_output_embeddings()
        if getattr(head, "bias", None) is None:
            raise RuntimeError(f"{type(model).__name__}'s output layer has no bias")
        head.bias -= torch.quantile(logits.flatten()[:100_000], 0.999)


def tiny_distilbert_mlm(out: Path, tiny: Path, seed: int = 11) -> Path:
    """A seeded random DistilBERT masked LM with splade-tiny's tokenizer (30522 entries)."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertForMaskedLM

    torch.manual_seed(seed)
    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=512, pad_token_id=0)
    model = DistilBertForMaskedLM(config).eval()
    _sparse_head(model, seed)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(tiny)).save_pretrained(str(out))
    return out


def _bpe(special: list[str], vocab_size: int = 600) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    return tok


def _unigram(special: list[str], vocab_size: int = 400) -> list[tuple[str, float]]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=special,
                                      unk_token="<unk>")
    tok.train_from_iterator(CORPUS * 4, trainer)
    return [(piece, float(score)) for piece, score in json.loads(tok.to_str())["model"]["vocab"]]


def _save_random_mlm(out: Path, tokenizer: Any, config: Any, model_cls: Any, seed: int) -> Path:
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    _sparse_head(model, seed)
    model.save_pretrained(str(out))
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(str(out))
    return out


SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
         "intermediate_size": 64}


def tiny_roberta_mlm(out: Path, seed: int = 21) -> Path:
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaTokenizer

    bpe = json.loads(_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]).to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in bpe["merges"]]
    tokenizer = RobertaTokenizer(vocab=bpe["vocab"], merges=merges)
    config = RobertaConfig(vocab_size=len(tokenizer), max_position_embeddings=130,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2, **SMALL)
    return _save_random_mlm(out, tokenizer, config, RobertaForMaskedLM, seed)


def tiny_xlm_roberta_mlm(out: Path, seed: int = 22) -> Path:
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM, XLMRobertaTokenizer

    vocab = [*_unigram(["<s>", "<pad>", "</s>", "<unk>"]), ("<mask>", 0.0)]
    tokenizer = XLMRobertaTokenizer(vocab=vocab)
    config = XLMRobertaConfig(vocab_size=len(tokenizer), max_position_embeddings=130,
                              pad_token_id=1, bos_token_id=0, eos_token_id=2, **SMALL)
    return _save_random_mlm(out, tokenizer, config, XLMRobertaForMaskedLM, seed)


def tiny_camembert_mlm(out: Path, seed: int = 23) -> Path:
    from transformers import CamembertConfig, CamembertForMaskedLM, CamembertTokenizer

    vocab = [*_unigram(["<s>", "<pad>", "</s>", "<unk>"]), ("<mask>", 0.0)]
    tokenizer = CamembertTokenizer(vocab=vocab)
    config = CamembertConfig(vocab_size=len(tokenizer), max_position_embeddings=130,
                             pad_token_id=1, bos_token_id=0, eos_token_id=2, **SMALL)
    return _save_random_mlm(out, tokenizer, config, CamembertForMaskedLM, seed)


def tiny_modernbert_mlm(out: Path, seed: int = 24) -> Path:
    from tokenizers import processors
    from transformers import ModernBertConfig, ModernBertForMaskedLM, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = _bpe(special)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    )
    config = ModernBertConfig(
        vocab_size=len(tokenizer), max_position_embeddings=128, pad_token_id=0,
        bos_token_id=cls_id, eos_token_id=sep_id, cls_token_id=cls_id, sep_token_id=sep_id,
        global_attn_every_n_layers=1, local_attention=16, **SMALL,
    )
    return _save_random_mlm(out, tokenizer, config, ModernBertForMaskedLM, seed)


# (j) backbone name -> writer of a plain random masked-LM folder.
BACKBONES: dict[str, Callable[[Path], Path]] = {
    "roberta": tiny_roberta_mlm,
    "xlm-roberta": tiny_xlm_roberta_mlm,
    "camembert": tiny_camembert_mlm,
    "modernbert": tiny_modernbert_mlm,
}
