"""Record golden SPLADE vectors from the reference implementation, pymilvus-model 0.3.4.

Run it with the reference's own environment (pymilvus.model==0.3.4 needs transformers 4.x):

    /tmp/ref/venv/bin/python scripts/make_golden.py \
        --model ~/.cache/spladekit/models/splade-tiny \
        --out tests/fixtures/golden/splade_tiny.json

Every text is encoded alone (batch_size=1), because the reference lets padding leak into the
max pooling: its vectors for a text depend on the other texts in the batch, and only a batch of
one is free of padding. The fixture holds the texts, the non-zero (index, value) pairs of each
``__call__`` vector, and ``encode_documents`` vectors with ``k_tokens_document`` for a few
texts. Only stdlib, numpy, scipy and pymilvus.model are imported: spladekit is not involved.

All texts below were written for this fixture (SciFact's licence keeps its text out of the repo).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

SEED_DOCS = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
]
SEED_QUERIES = ["When was artificial intelligence founded", "Where was Alan Turing born?"]

# Biomedical abstracts and claims in the style of a fact-checking corpus, of varied length.
SCIENCE = [
    "Vitamin D supplementation did not reduce the incidence of fractures in older adults.",
    "Mice lacking the receptor showed impaired glucose tolerance after a high-fat diet.",
    "Statin therapy lowers LDL cholesterol by roughly a third within six weeks.",
    "Tumour-infiltrating lymphocytes predict a favourable response to checkpoint blockade "
    "in patients with metastatic melanoma. We analysed biopsies from 212 patients before "
    "treatment and found that a high density of CD8-positive cells at the invasive margin "
    "was associated with longer progression-free survival (hazard ratio 0.54).",
    "Sleep deprivation impairs memory consolidation.",
    "In a randomised trial of 1,400 smokers, varenicline doubled the rate of sustained "
    "abstinence at one year compared with placebo, while nicotine patches gave a smaller "
    "benefit. Neuropsychiatric adverse events were rare in every arm.",
    "The gut microbiome of infants delivered by caesarean section differs from that of "
    "vaginally delivered infants during the first months of life, with fewer Bacteroides "
    "and more hospital-associated species such as Enterococcus and Klebsiella.",
    "CRISPR-Cas9 editing of the BCL11A enhancer restored fetal haemoglobin production in "
    "erythroid cells from donors with sickle cell disease.",
    "Aspirin reduces the risk of colorectal adenoma recurrence.",
    "Mitochondrial dysfunction precedes the loss of dopaminergic neurons in models of "
    "Parkinson's disease. Complex I inhibition by rotenone produced oxidative stress, "
    "alpha-synuclein aggregation and motor deficits in rats after 14 days of exposure.",
    "Telomere length in leukocytes shortens with age and with chronic psychological stress.",
    "Influenza vaccination of health care workers was associated with lower mortality "
    "among elderly residents of long-term care facilities in a cluster randomised study.",
    "Insulin resistance in skeletal muscle is an early defect in the development of type 2 "
    "diabetes, detectable decades before hyperglycaemia appears.",
    "Macrophages polarised toward the M2 phenotype promote angiogenesis and tumour growth.",
    "We sequenced 3,000 exomes and identified rare loss-of-function variants in PCSK9 "
    "that were associated with a 28 percent lower risk of coronary heart disease. Carriers "
    "had lifelong low concentrations of circulating LDL cholesterol, which suggests that "
    "inhibiting this protein is a safe therapeutic strategy.",
    "Antibiotic exposure in the first year of life is linked to childhood obesity.",
    "Physical exercise increases hippocampal volume and improves spatial memory in older "
    "adults; a one-year aerobic training programme reversed age-related volume loss by one "
    "to two years.",
    "Helicobacter pylori infection is a major cause of gastric ulcers and gastric cancer.",
    "Regulatory T cells expressing FOXP3 suppress autoimmunity; their depletion in adult mice "
    "caused lethal lymphoproliferative disease within three weeks.",
    "Low-dose computed tomography screening reduced lung cancer mortality by 20% among "
    "heavy smokers aged 55 to 74 compared with chest radiography.",
    "Malaria parasites resistant to artemisinin carry mutations in the kelch13 propeller "
    "domain, first reported in western Cambodia.",
]

UNICODE = [
    "Café au lait spots and naïve résumé: accents are stripped by uncased BERT.",
    "α-synuclein and β-amyloid aggregates were measured at 37 °C ± 0.5 in 10 µm sections.",  # noqa: RUF001
    "机器学习是人工智能的一个分支。",
    "東京は日本の首都です",
    "Нейронные сети обучаются методом обратного распространения ошибки.",
    "الذكاء الاصطناعي مجال من مجالات علوم الحاسوب",
    "Emoji 🧬🔬 in a sentence about DNA 🧪 and labs.",
    "Zero\u200bwidth space, e\u0301 combining accent and ﬁ ligature.",
]

MISC = [
    "Turing",
    "COVID-19 SARS-CoV-2 ACE2 IL-6 TNF-α p53 HER2+",  # noqa: RUF001
    "WHAT IS THE CAPITAL OF FRANCE???",
    "see https://example.org/papers?id=42 or write to someone@example.com",
    "def encode(texts): return [splade(t) for t in texts]",
    "protein protein protein protein protein protein protein protein",
    "12345 67890 3.14159 2.71828 1e-9",
]

EMPTY = ["", " \t\n  "]


def long_text() -> str:
    """Well over 512 wordpieces, so that the reference's truncation is pinned too."""
    return " ".join(reversed(SCIENCE)) + " " + " ".join(SCIENCE)


def all_texts() -> list[tuple[str, str]]:
    named = [(f"seed-doc-{i}", t) for i, t in enumerate(SEED_DOCS)]
    named += [(f"seed-query-{i}", t) for i, t in enumerate(SEED_QUERIES)]
    named += [("empty", EMPTY[0]), ("whitespace", EMPTY[1]), ("long", long_text())]
    named += [(f"unicode-{i}", t) for i, t in enumerate(UNICODE)]
    named += [(f"science-{i}", t) for i, t in enumerate(SCIENCE)]
    named += [(f"misc-{i}", t) for i, t in enumerate(MISC)]
    return named


# Texts that are also encoded with encode_documents(k_tokens_document=TOP_K): the empty one has
# fewer than TOP_K non-zeros (so do "misc-5"), where the reference writes explicit zeros.
TOP_K = 10
TOP_K_NAMES = ["seed-doc-0", "seed-query-1", "empty", "misc-5", "long", "science-3", "unicode-1"]


def _rows(matrix: Any) -> list[tuple[list[int], list[float], int]]:
    """(indices, values, explicit zeros) per row, keeping only the non-zero entries."""
    csr = matrix.tocsr()
    csr.sort_indices()
    out = []
    for i in range(csr.shape[0]):
        lo, hi = int(csr.indptr[i]), int(csr.indptr[i + 1])
        idx = csr.indices[lo:hi]
        val = np.asarray(csr.data[lo:hi], dtype=np.float32)
        keep = val != 0
        # Shortest decimal that parses back to the same float32: exact, and compact in JSON.
        values = [float(np.format_float_positional(v, unique=True)) for v in val[keep]]
        out.append(([int(j) for j in idx[keep]], values, int((~keep).sum())))
    return out


def _same(a: tuple[list[int], list[float], int], b: tuple[list[int], list[float], int]) -> bool:
    if a[0] != b[0]:
        return False
    return bool(np.max(np.abs(np.subtract(a[1], b[1])), initial=0.0) <= 1e-5)


def _dump(fixture: dict[str, Any]) -> str:
    """JSON with one record per line: small, and readable in a diff."""
    parts = []
    for key, value in fixture.items():
        if isinstance(value, list):
            body = ",\n".join("  " + json.dumps(v, ensure_ascii=False) for v in value)
            parts.append(f' "{key}": [\n{body}\n ]')
        else:
            parts.append(f' "{key}": ' + json.dumps(value, ensure_ascii=False))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="local model folder")
    parser.add_argument("--out", required=True, type=Path, help="JSON file to write")
    args = parser.parse_args()

    from pymilvus.model.sparse import SpladeEmbeddingFunction

    folder = args.model.expanduser()
    named = all_texts()
    texts = [t for _, t in named]
    plain = SpladeEmbeddingFunction(model_name=str(folder), batch_size=1)
    rows = _rows(plain(texts))

    by_name = dict(named)
    topk_fn = SpladeEmbeddingFunction(model_name=str(folder), batch_size=1, k_tokens_document=TOP_K)
    topk_rows = _rows(topk_fn.encode_documents([by_name[n] for n in TOP_K_NAMES]))

    # Not asserted anywhere: how many rows the reference itself changes when the same texts
    # share batches of 32, i.e. the padding leak that spladekit's batch-invariance test rules out.
    batched = _rows(SpladeEmbeddingFunction(model_name=str(folder), batch_size=32)(texts))
    differing = sum(not _same(a, b) for a, b in zip(rows, batched, strict=True))

    weights = folder / "model.safetensors"
    fixture = {
        "meta": {
            "reference": f"pymilvus.model {metadata.version('pymilvus.model')}",
            "transformers": metadata.version("transformers"),
            "torch": metadata.version("torch"),
            "model": folder.name,
            "model_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "dim": int(plain.dim),
            "batch_size": 1,
            "top_k": TOP_K,
            "reference_rows_changed_at_batch_size_32": differing,
            "made_by": "scripts/make_golden.py",
        },
        "vectors": [
            {"name": n, "text": t, "indices": r[0], "values": r[1]}
            for (n, t), r in zip(named, rows, strict=True)
        ],
        "top_k_documents": [
            {
                "name": n,
                "text": by_name[n],
                "k": TOP_K,
                "indices": r[0],
                "values": r[1],
                "reference_explicit_zeros": r[2],
            }
            for n, r in zip(TOP_K_NAMES, topk_rows, strict=True)
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_dump(fixture), encoding="utf-8")
    print(
        f"wrote {len(rows)} vectors and {len(topk_rows)} top-{TOP_K} vectors to {args.out}; "
        f"{differing} rows change in the reference at batch_size=32"
    )


if __name__ == "__main__":
    main()
