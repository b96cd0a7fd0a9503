"""Build a BERT-base masked-LM with random weights, the size of naver's SPLADE models.

    .venv/bin/python bench/make_random_model.py  # -> ~/.cache/spladekit/models/bert-base-random
    .venv/bin/python bench/make_random_model.py --arch roberta     # -> .../roberta-base-random
    .venv/bin/python bench/make_random_model.py --arch modernbert  # -> .../modernbert-base-random

The encode benchmark uses it to time a model of the real architecture (12 layers, hidden 768,
12 heads, intermediate 3072, vocab 30522, 512 positions) without downloading one. Weights come
from transformers' own initialisation under a fixed seed, so the folder is reproducible. The
tokenizer files are copied from splade-tiny: both use the same uncased BERT wordpiece vocabulary.

``--synthetic-tokenizer`` writes a WordPiece tokenizer of the same shape instead (BERT's special
tokens at their usual ids, 30,517 made-up lowercase words, one token each), so the model can be
built where no tokenizer files exist (a bare GPU machine); ``synthetic_words()`` gives its words
for generating texts of known token lengths.

The output bias of the MLM head is set to a negative constant (``--head-bias``) so that, as with
a trained SPLADE model, about 190 vocabulary weights per SciFact document come out non-zero
(with the initial zero bias about half the vocabulary would). Output size matters to the timing
and memory of both implementations, so it should look like a real model's.

``--arch roberta`` and ``--arch modernbert`` build the other backbones' base shapes (see
``_random_families.py``): RoBERTa-base (12 layers, hidden 768, vocab 50265, 514 positions) and
ModernBERT-base (22 layers, hidden 768, intermediate 1152, vocab 50368, transformers' default
local/global attention), each with a byte-level BPE tokenizer trained on SciFact and saved in
sentence-transformers' layout (Transformer fill-mask + SpladePooling), so that both spladekit
and sentence-transformers' ``SparseEncoder`` load the same folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from _common import RANDOM_MODELS, SPLADE_TINY

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
VOCAB_SIZE = 30522
# BERT uncased's special tokens and their ids.
SPECIAL = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def synthetic_words() -> list[str]:
    """The made-up words of the synthetic vocabulary, in id order (ids not taken by SPECIAL)."""
    words = []
    length = 2
    while len(words) < VOCAB_SIZE - len(SPECIAL):
        for index in range(len(LETTERS) ** length):
            word = ""
            for _ in range(length):
                index, letter = divmod(index, len(LETTERS))
                word += LETTERS[letter]
            words.append(word)
            if len(words) == VOCAB_SIZE - len(SPECIAL):
                break
        length += 1
    return words


def write_synthetic_tokenizer(out: Path) -> None:
    """A BERT-style WordPiece tokenizer over synthetic_words() (tokenizer.json + config)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = dict(SPECIAL)
    free = (i for i in range(VOCAB_SIZE) if i not in SPECIAL.values())
    for word, index in zip(synthetic_words(), free, strict=False):
        vocab[word] = index
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", SPECIAL["[CLS]"]), ("[SEP]", SPECIAL["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece()
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512,
        "pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
        "mask_token": "[MASK]",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1))


def build(out: Path, tokenizer_from: Path | None, seed: int, head_bias: float) -> str:
    """Write config, safetensors weights and tokenizer files to ``out``; return weights' sha256.

    ``tokenizer_from`` None writes the synthetic tokenizer.
    """
    import torch
    from transformers import BertConfig, BertForMaskedLM

    if tokenizer_from is not None:
        missing = [n for n in TOKENIZER_FILES if not (tokenizer_from / n).is_file()]
        if missing:
            raise SystemExit(
                f"{tokenizer_from} lacks {', '.join(missing)}: run scripts/fetch_test_model.py "
                "first, or use --synthetic-tokenizer"
            )
    config = BertConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
        type_vocab_size=2,
        pad_token_id=0,
    )
    torch.manual_seed(seed)
    model = BertForMaskedLM(config)
    with torch.no_grad():
        model.cls.predictions.bias.fill_(head_bias)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    if tokenizer_from is None:
        write_synthetic_tokenizer(out)
    else:
        for name in TOKENIZER_FILES:
            shutil.copyfile(tokenizer_from / name, out / name)
    return hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=("bert", "roberta", "modernbert"), default="bert")
    parser.add_argument(
        "--out", type=Path,
        help="default ~/.cache/spladekit/models/ARCH-base-random (_common.RANDOM_MODELS)",
    )
    parser.add_argument("--tokenizer-from", type=Path, default=SPLADE_TINY)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--head-bias", type=float,
        help="MLM output bias (default -2.2 for bert; for roberta/modernbert: calibrated on "
        "SciFact so that a document gets about --target-nnz non-zero weights)",
    )
    parser.add_argument("--target-nnz", type=int, default=200)
    parser.add_argument(
        "--synthetic-tokenizer", action="store_true",
        help="Write a made-up WordPiece vocabulary instead of copying splade-tiny's tokenizer.",
    )
    args = parser.parse_args()
    out = (args.out or RANDOM_MODELS[args.arch]).expanduser()
    if args.arch != "bert":
        from _random_families import build_family

        digest, bias, nnz = build_family(args.arch, out, args.seed, args.head_bias, args.target_nnz)
        print(f"wrote {out} (head bias {bias:.4f}, {nnz:.0f} non-zeros per SciFact document "
              f"on the calibration sample; model.safetensors sha256 {digest})")
        return
    if args.head_bias is None:
        args.head_bias = -2.2
    source = None if args.synthetic_tokenizer else args.tokenizer_from.expanduser()
    digest = build(out, source, args.seed, args.head_bias)
    print(f"wrote {out} (model.safetensors sha256 {digest})")


if __name__ == "__main__":
    main()
