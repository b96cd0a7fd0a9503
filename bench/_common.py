"""What the benchmarks share, defined once: paths, SciFact, the percentile, parity, the CPU line.

A script run from bench/ has bench/ as ``sys.path[0]``, so ``import _common`` works from any of
them. Only the standard library is imported at module level: the reference's virtual environment
and fastembed's import this module too (bench/_peers.py), and they have no spladekit and no
scipy. numpy, scipy and spladekit are imported inside the functions that use them.

Paths (each with its environment override; bench/README.md has the table):

- ``REPO``, ``BENCH``, ``SCRIPTS``: this checkout, bench/ and scripts/ (the Milvus server helper);
- ``SCIFACT``: the SciFact BEIR folder, ``$SPLADEKIT_SCIFACT`` or ``<repo>/../shared/data/scifact``
  (SciFact's licence is non-commercial: it is never copied into the repository);
- ``MODELS``: the model cache, ``$SPLADEKIT_MODELS_DIR`` or ``~/.cache/spladekit/models``;
- ``SPLADE_TINY``: ``$SPLADEKIT_TEST_MODEL`` (as for the tests and scripts/fetch_test_model.py)
  or ``MODELS/splade-tiny``; ``RANDOM_MODELS``: make_random_model.py's
  ``MODELS/<arch>-base-random``; ``MODEL_NAMES``: the names ``--model`` takes;
- ``PEERS_CACHE``: the peers' ONNX logits exports, ``$SPLADEKIT_PEERS_CACHE`` or
  ``~/.cache/spladekit/peers``;
- ``REFERENCE_PYTHON``: pymilvus-model's venv, ``$SPLADEKIT_REFERENCE_PYTHON`` or
  ``/tmp/ref/venv/bin/python``; ``FASTEMBED_PYTHON``: fastembed's venv,
  ``$SPLADEKIT_FASTEMBED_PYTHON`` or ``/tmp/peers/venv/bin/python``.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spladekit.corpus import Record
    from spladekit.evaluation import BeirDataset


def _env_path(variable: str, default: Path) -> Path:
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else default


# -- paths -----------------------------------------------------------------------------------

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SCRIPTS = REPO / "scripts"
SCIFACT = _env_path("SPLADEKIT_SCIFACT", REPO.parent / "shared" / "data" / "scifact")
CACHE = Path.home() / ".cache" / "spladekit"
MODELS = _env_path("SPLADEKIT_MODELS_DIR", CACHE / "models")
PEERS_CACHE = _env_path("SPLADEKIT_PEERS_CACHE", CACHE / "peers")
SPLADE_TINY = _env_path("SPLADEKIT_TEST_MODEL", MODELS / "splade-tiny")
# make_random_model.py --arch ARCH writes MODELS/ARCH-base-random.
RANDOM_MODELS = {arch: MODELS / f"{arch}-base-random" for arch in ("bert", "roberta", "modernbert")}
REFERENCE_PYTHON = _env_path("SPLADEKIT_REFERENCE_PYTHON", Path("/tmp/ref/venv/bin/python"))
FASTEMBED_PYTHON = _env_path("SPLADEKIT_FASTEMBED_PYTHON", Path("/tmp/peers/venv/bin/python"))

# The names --model takes in every bench (anything else is a model folder).
MODEL_NAMES = {
    "tiny": SPLADE_TINY,
    "bert-base": RANDOM_MODELS["bert"],
    "roberta-base": RANDOM_MODELS["roberta"],
    "modernbert-base": RANDOM_MODELS["modernbert"],
}


def model_folder(name: str | os.PathLike[str]) -> Path:
    """The folder a ``--model`` value names: one of ``MODEL_NAMES``, or a path."""
    return MODEL_NAMES.get(str(name)) or Path(name).expanduser()


def python_lacks(python: Path, modules: Sequence[str]) -> str | None:
    """Why ``python`` (a peer's interpreter) cannot run a peer, or None: it is missing, or one of
    ``modules`` (top-level names) is not installed there. Checked without importing them."""
    import subprocess

    if not Path(python).is_file():
        return f"no Python at {python}"
    probe = (
        "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if not u.find_spec(m)])"
    )
    found = subprocess.run([str(python), "-c", probe, *modules], capture_output=True, text=True,
                           check=False)
    missing = found.stdout.split()
    if found.returncode != 0 or missing:
        return f"{python} lacks {', '.join(missing) or 'a working interpreter'}"
    return None


@functools.cache
def milvus_server() -> ModuleType:
    """scripts/milvus_server.py (``MilvusServer``, ``binary_path()``, ...), loaded by its path.

    The tests' Milvus server fixture loads the same file the same way: neither bench/ nor tests/
    imports the other, and ``sys.path`` is left alone."""
    import importlib.util

    path = SCRIPTS / "milvus_server.py"
    spec = importlib.util.spec_from_file_location("milvus_server_script", path)
    assert spec is not None and spec.loader is not None  # a file in this repository
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- SciFact, read by spladekit.corpus -----------------------------------------------------------


def _scifact_file(folder: Path, name: str) -> Path:
    path = Path(folder) / name
    if not path.is_file():
        raise SystemExit(
            f"SciFact not found: {path} is missing. Point SPLADEKIT_SCIFACT (or the script's "
            "--scifact/--data option) at a BEIR folder with corpus.jsonl, queries.jsonl, qrels/"
        )
    return path


def _read_jsonl(path: Path, n: int | None) -> list[Record]:
    from spladekit.corpus import open_text, read_records

    with open_text(str(path)) as handle:
        return list(itertools.islice(read_records(handle, str(path), "jsonl"), n))


def scifact_records(n: int | None = None, folder: Path = SCIFACT) -> list[Record]:
    """The first ``n`` documents of ``corpus.jsonl`` (all when ``n`` is None), in file order, as
    ``spladekit.corpus`` reads them: id ``_id``, text ``title + " " + text`` (the library's BEIR
    rule, the same texts these benchmarks built by hand before). Fewer when the file has fewer."""
    return _read_jsonl(_scifact_file(folder, "corpus.jsonl"), n)


def scifact_documents(n: int | None = None, folder: Path = SCIFACT) -> list[str]:
    """The texts of :func:`scifact_records`."""
    return [r.text for r in scifact_records(n, folder)]


def scifact_queries(n: int | None = None, folder: Path = SCIFACT) -> list[str]:
    """The first ``n`` texts of ``queries.jsonl`` in file order, every split (SciFact: 1,109;
    the test split's 300 are not the first 300): what bench_latency and bench_serve time."""
    return [r.text for r in _read_jsonl(_scifact_file(folder, "queries.jsonl"), n)]


def scifact_dataset(folder: Path = SCIFACT, split: str = "test") -> BeirDataset:
    """``spladekit.evaluation.load_beir``: the whole corpus, the queries judged in ``split`` and
    their qrels (for the benches that compute ranking metrics)."""
    from spladekit.evaluation import load_beir

    _scifact_file(folder, "corpus.jsonl")
    return load_beir(folder, split)


# -- figures -------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) of ``values``, by linear interpolation between the two
    nearest ranks: numpy.percentile's default (``method="linear"``, position ``(n - 1) * q /
    100`` in the sorted values). So ``percentile(v, 50)`` is ``statistics.median(v)``; p99 of
    300 values is ``v[296] + 0.01 * (v[297] - v[296])``."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be between 0 and 100, got {q}")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (position - low))


TOP_TERMS = 10  # parity's top10_kept_mean: the heaviest terms of a row


def parity(reference: Any, other: Any, rows: Any = None) -> dict[str, float]:
    """How close ``other``'s vectors are to ``reference``'s, row by row (two scipy sparse
    matrices of one shape; ``rows``: the row numbers to compare, default all). One dict:

    - ``rows``: how many rows were compared;
    - ``same_nonzero_set``: share of rows whose sets of non-zero indices are equal;
    - ``max_abs_diff``: the largest absolute weight difference over all compared entries;
    - ``cosine_mean``, ``cosine_min``: per-row cosine (a row empty on both sides counts 1, on
      one side 0);
    - ``top10_kept_mean``: per row, the share of ``reference``'s 10 heaviest terms (ties: the
      lower index first) that are among ``other``'s 10 heaviest (a row with fewer than 10
      terms: of all its terms; a row empty on both sides counts 1).

    Explicit zeros are dropped and duplicates summed first; the inputs are not changed. With no
    rows, the shares and differences are NaN.
    """
    import numpy as np

    a, b = _canonical(reference), _canonical(other)
    if a.shape != b.shape:
        raise ValueError(f"parity needs two matrices of one shape, got {a.shape} and {b.shape}")
    if rows is not None:
        picked = np.asarray(rows, dtype=np.int64)
        a, b = a[picked], b[picked]
    n = a.shape[0]
    if n == 0:
        nan = float("nan")
        return {"rows": 0, "same_nonzero_set": nan, "max_abs_diff": nan, "cosine_mean": nan,
                "cosine_min": nan, "top10_kept_mean": nan}
    dots = np.asarray(a.multiply(b).sum(axis=1), dtype=np.float64).ravel()
    norm_a = np.sqrt(np.asarray(a.multiply(a).sum(axis=1), dtype=np.float64).ravel())
    norm_b = np.sqrt(np.asarray(b.multiply(b).sum(axis=1), dtype=np.float64).ravel())
    both = norm_a * norm_b
    empty_both = (norm_a == 0) & (norm_b == 0)
    cosine = np.where(both > 0, dots / np.where(both > 0, both, 1.0), np.where(empty_both, 1, 0))
    same, kept = [], []
    for i in range(n):
        ia, ib = a.indices[a.indptr[i] : a.indptr[i + 1]], b.indices[b.indptr[i] : b.indptr[i + 1]]
        same.append(np.array_equal(ia, ib))
        top_a = _top_terms(ia, a.data[a.indptr[i] : a.indptr[i + 1]])
        top_b = _top_terms(ib, b.data[b.indptr[i] : b.indptr[i + 1]])
        kept.append(len(top_a & top_b) / len(top_a) if top_a else float(not top_b))
    diff = abs(a - b)
    return {
        "rows": int(n),
        "same_nonzero_set": float(np.mean(same)),
        "max_abs_diff": float(diff.max()) if diff.nnz else 0.0,
        "cosine_mean": float(cosine.mean()),
        "cosine_min": float(cosine.min()),
        "top10_kept_mean": float(np.mean(kept)),
    }


def _canonical(matrix: Any) -> Any:
    """A CSR copy with sorted indices, no duplicates and no explicit zeros."""
    from scipy.sparse import csr_array

    out = csr_array(matrix, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.sort_indices()
    return out


def _top_terms(indices: Any, weights: Any) -> set[int]:
    import numpy as np

    order = np.argsort(-weights, kind="stable")[:TOP_TERMS]  # indices are sorted: ties by index
    return set(indices[order].tolist())


# -- Ray jobs: quiet, and their steady rate -----------------------------------------------------


def quiet_ray() -> dict[str, Any]:
    """As the CLI does: Ray Data's progress bars and logs off the terminal. Returns the
    ``init_kwargs`` for ``RayOptions`` that keep the workers' logs off it too. Imports Ray: a
    caller that sets Ray's environment (a loopback cluster) does so first. Calling it again
    changes nothing."""
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
    return {"log_to_driver": False, "logging_level": logging.ERROR}


class SteadyRate:
    """A ``progress`` callback for spladekit's indexing and Ray jobs (called with the count of
    documents done since the last call) that notes when each report came and the total so far.

    :meth:`docs_per_s` is the rate between the first and the last report: the job without its
    startup (imports, model load, Ray start). None before two reports a moment apart."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, int]] = []  # (perf_counter, documents done so far)
        self.done = 0

    def __call__(self, count: int) -> None:
        self.done += count
        self.marks.append((time.perf_counter(), self.done))

    def docs_per_s(self) -> float | None:
        marks = self.marks
        if len(marks) >= 2 and marks[-1][0] > marks[0][0]:
            return (marks[-1][1] - marks[0][1]) / (marks[-1][0] - marks[0][0])
        return None


# -- the machine -------------------------------------------------------------------------------

NOTABLE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_summary() -> str:
    """The CPU model and its notable SIMD flags, for a benchmark's header."""
    from spladekit.backends.cpu import cpu_flags

    name = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    flags = [f for f in NOTABLE_FLAGS if f in cpu_flags()]
    return f"{name}; flags: {' '.join(flags) or 'none of ' + ', '.join(NOTABLE_FLAGS)}"
