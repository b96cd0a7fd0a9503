"""RoBERTa-base and ModernBERT-base SPLADE stand-ins with random weights (make_random_model.py).

Each is saved in sentence-transformers' layout, written by sentence-transformers itself
(``SparseEncoder([Transformer(fill-mask), SpladePooling("max")]).save``), so that its
``SparseEncoder`` and spladekit read the same folder.

Tokenizer: a byte-level BPE trained on SciFact (corpus and queries) with ``TRAINED_MERGES``
tokens, the size at which a SciFact document comes out about as long as under BERT's WordPiece
(~320 tokens after truncation at 512; the full 50k merges of a BPE trained on SciFact alone would
give ~270, shorter than any general-purpose tokenizer would). The vocabulary is then filled up to
the backbone's size with tokens no merge produces, and the backbone's special tokens sit at their
usual ids. Documents are truncated at 512 tokens for both backbones (ModernBERT's 8,192 positions
stay in the config), like the BERT rows.

The MLM output bias is calibrated: with the bias at 0, the per-document max-pooled logits of the
first ``CALIBRATION_DOCS`` SciFact documents give the constant bias at which a document has
``target_nnz`` non-zero weights on average.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import scifact_documents, scifact_queries

TRAINED_MERGES = 8000
MAX_LENGTH = 512
CALIBRATION_DOCS = 16


@dataclass(frozen=True)
class Family:
    vocab_size: int
    specials: dict[str, int]  # token -> id
    roles: dict[str, str]  # tokenizer_config role -> token
    cls: str
    sep: str
    roberta_processing: bool


FAMILIES = {
    "roberta": Family(
        50265,
        {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 50264},
        {"bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>", "sep_token": "</s>",
         "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"},
        "<s>", "</s>", True,
    ),
    "modernbert": Family(
        50368,
        {"[UNK]": 50280, "[CLS]": 50281, "[SEP]": 50282, "[PAD]": 50283, "[MASK]": 50284},
        {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
         "mask_token": "[MASK]"},
        "[CLS]", "[SEP]", False,
    ),
}


def scifact_texts() -> list[str]:
    """Every SciFact document (title + " " + text), then every query, in file order."""
    return scifact_documents() + scifact_queries()


def write_bpe_tokenizer(family: Family, texts: list[str], out: Path) -> None:
    from tokenizers import (
        AddedToken,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
        trainers,
    )

    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TRAINED_MERGES, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    trainer_tok.train_from_iterator(texts, trainer)
    trained = json.loads(trainer_tok.to_str())["model"]
    learned = sorted(trained["vocab"], key=trained["vocab"].__getitem__)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in trained["merges"]]

    vocab = dict(family.specials)
    free = (i for i in range(family.vocab_size) if i not in family.specials.values())
    for token, index in zip(learned, free, strict=False):
        vocab[token] = index
    for filler, index in enumerate(free):
        vocab[f"<unused{filler}>"] = index  # never produced: no merge leads to it
    if len(vocab) != family.vocab_size:
        raise SystemExit(f"tokenizer has {len(vocab)} entries, expected {family.vocab_size}")

    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    cls, sep = (family.cls, family.specials[family.cls]), (family.sep, family.specials[family.sep])
    if family.roberta_processing:
        tokenizer.post_processor = processors.RobertaProcessing(sep, cls)
    else:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{cls[0]} $A {sep[0]}", pair=f"{cls[0]} $A {sep[0]} $B:1 {sep[0]}:1",
            special_tokens=[cls, sep],
        )
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in family.specials])
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_LENGTH,
              **family.roles}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")


def make_model(arch: str, family: Family) -> tuple[Any, list[Any]]:
    """The masked-LM at transformers' initialisation and its output-bias parameters."""
    if arch == "roberta":
        from transformers import RobertaConfig, RobertaForMaskedLM

        model = RobertaForMaskedLM(RobertaConfig(
            vocab_size=family.vocab_size, hidden_size=768, num_hidden_layers=12,
            num_attention_heads=12, intermediate_size=3072, max_position_embeddings=514,
            type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
        ))
        head = model.lm_head
        biases = [head.bias] + ([head.decoder.bias] if head.decoder.bias is not head.bias else [])
        return model, [b for b in biases if b is not None]
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    # Base shape: 22 layers, hidden 768, intermediate 1152, vocab 50368, special-token ids and
    # local (128) / global (every 3rd layer) attention: all ModernBertConfig's defaults.
    config = ModernBertConfig()
    if config.vocab_size != family.vocab_size:
        raise SystemExit(f"ModernBertConfig's vocab is {config.vocab_size}, not 50368")
    model = ModernBertForMaskedLM(config)
    return model, [model.decoder.bias]


def calibrate(model: Any, tokenizer_dir: Path, texts: list[str], target_nnz: int) -> float:
    """The constant bias that gives ``target_nnz`` non-zeros per document on average."""
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model.eval()
    pooled = []
    with torch.inference_mode():
        for text in texts:
            enc = tokenizer([text], truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
            pooled.append(model(**enc).logits[0].max(dim=0).values)
    scores = torch.stack(pooled)  # (docs, vocab): a weight is non-zero iff score + bias > 0
    low, high = -float(scores.max()), -float(scores.min())
    for _ in range(60):
        bias = (low + high) / 2
        nnz = float((scores + bias > 0).sum(dim=1).float().mean())
        low, high = (low, bias) if nnz > target_nnz else (bias, high)
    return (low + high) / 2


def build_family(
    arch: str, out: Path, seed: int, head_bias: float | None, target_nnz: int
) -> tuple[str, float, float]:
    """Write the model to ``out``; returns (weights' sha256, head bias, calibration nnz/doc)."""
    import torch
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SpladePooling

    try:
        from sentence_transformers.base.modules.transformer import Transformer
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers.models import Transformer

    family = FAMILIES[arch]
    texts = scifact_texts()
    with tempfile.TemporaryDirectory(prefix="spladekit-random-") as tmp:
        hf = Path(tmp) / "hf"
        write_bpe_tokenizer(family, texts, hf)
        torch.manual_seed(seed)
        model, biases = make_model(arch, family)
        with torch.no_grad():
            for b in biases:
                b.fill_(0.0)
        if head_bias is None:
            head_bias = calibrate(model, hf, texts[:CALIBRATION_DOCS], target_nnz)
        with torch.no_grad():
            for b in biases:
                b.fill_(head_bias)
        model.save_pretrained(hf, safe_serialization=True)
        transformer = Transformer(str(hf), transformer_task="fill-mask", max_seq_length=MAX_LENGTH)
        encoder = SparseEncoder(modules=[transformer, SpladePooling("max")], device="cpu")
        sample = encoder.encode_document(texts[:CALIBRATION_DOCS], convert_to_tensor=True)
        nnz = float((sample.to_dense() > 0).sum(dim=1).float().mean())
        if out.exists():
            shutil.rmtree(out)
        encoder.save(str(out))
    digest = hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()
    return digest, head_bias, nnz
