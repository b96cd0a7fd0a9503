"""One encoder shared by many threads gives every thread the vectors it would get alone.

Each mode (backend, precision, long-document handling) is hammered by 6 threads encoding
different texts at once, in batches and one at a time, and every row is compared with the
single-threaded result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from spladekit import SpladeEncoder
from spladekit.backends.cpu import cpu_has_bf16

THREADS = 6
ROUNDS = 4

BASE = [
    "Vitamin D deficiency is associated with an increased risk of fractures in older adults.",
    "who invented the telephone",
    "Graphene conducts electricity better than copper at room temperature " * 5,
    "x",
    "",
    "The mitochondrion produces ATP through oxidative phosphorylation.",
    "Insulin resistance precedes type 2 diabetes by several years in most patients.",
    "Protein folding is guided by hydrophobic collapse " * 30,  # > 512 tokens: cut or windowed
]


def texts_for(thread: int) -> list[str]:
    """Different texts per thread (and per length), so that a shared buffer would show."""
    return [f"{t} thread {thread} variant {i}" for i, t in enumerate(BASE)]


def run_threads(work: Callable[[int], None]) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def target(thread: int) -> None:
        try:
            start.wait()
            work(thread)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]


def assert_same(got: object, want: object, tol: float = 1e-5) -> None:
    a, b = got.toarray(), want.toarray()  # type: ignore[attr-defined]
    assert a.shape == b.shape
    worst = float(np.abs(a - b).max()) if a.size else 0.0
    assert worst <= tol, f"rows differ from the single-threaded result by {worst}"


def check_encoder(encoder: SpladeEncoder, side: str = "document") -> None:
    def encode(texts: list[str]) -> object:
        return encoder.encode(texts, side=side)  # type: ignore[arg-type]

    expected = {i: encode(texts_for(i)) for i in range(THREADS)}
    singles = {i: [encode([t]) for t in texts_for(i)[:3]] for i in range(THREADS)}
    results: dict[int, list[object]] = {i: [] for i in range(THREADS)}

    def work(thread: int) -> None:
        for _ in range(ROUNDS):
            results[thread].append(("batch", encode(texts_for(thread))))
            for j, text in enumerate(texts_for(thread)[:3]):
                results[thread].append((j, encode([text])))

    run_threads(work)
    checked = 0
    for thread, items in results.items():
        for key, vectors in items:  # type: ignore[misc]
            want = expected[thread] if key == "batch" else singles[thread][key]
            assert_same(vectors, want)
            checked += 1
    assert checked == THREADS * ROUNDS * 4


@pytest.fixture(scope="module")
def onnx_folder(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from spladekit import export_onnx

    return export_onnx(tiny_model_dir, tmp_path_factory.mktemp("ts") / "onnx", quantize="int8")


def test_torch_fp32_is_safe_to_share_between_threads(tiny_model_dir: Path) -> None:
    check_encoder(SpladeEncoder(tiny_model_dir, batch_size=3))


def test_windowed_long_documents_are_safe_to_share_between_threads(tiny_model_dir: Path) -> None:
    check_encoder(
        SpladeEncoder(tiny_model_dir, batch_size=3, long_documents="window", window_stride=200)
    )


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnx_is_safe_to_share_between_threads(onnx_folder: Path, precision: str) -> None:
    check_encoder(SpladeEncoder(onnx_folder, precision=precision, batch_size=3))


def test_torch_bf16_is_safe_to_share_between_threads(tiny_model_dir: Path) -> None:
    if not cpu_has_bf16():
        pytest.skip("this CPU has no native bf16 (spladekit refuses bf16 here)")
    check_encoder(SpladeEncoder(tiny_model_dir, precision="bf16", batch_size=3))


@pytest.fixture(scope="module")
def inference_free_folder(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from spladekit import build_inference_free

    corpus = [t for t in BASE if t] + ["telephone patents were filed in 1876", "graphene"]
    return build_inference_free(tiny_model_dir, corpus, tmp_path_factory.mktemp("ts") / "if")


@pytest.mark.parametrize("side", ["query", "document"])
def test_both_routes_of_an_inference_free_model_are_safe_to_share(
    inference_free_folder: Path, side: str
) -> None:
    check_encoder(SpladeEncoder(inference_free_folder, batch_size=3), side)


def test_sum_pooling_is_safe_to_share_between_threads(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    import shutil

    folder = tmp_path / "sum"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "modules.json").write_text(
        '[{"idx": 0, "name": "0", "path": "", "type": '
        '"sentence_transformers.base.modules.transformer.Transformer"}, {"idx": 1, "name": "1", '
        '"path": "1_SpladePooling", "type": '
        '"sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling"}]'
    )
    (folder / "sentence_bert_config.json").write_text('{"transformer_task": "fill-mask"}')
    (folder / "1_SpladePooling").mkdir()
    (folder / "1_SpladePooling" / "config.json").write_text('{"pooling_strategy": "sum"}')
    check_encoder(SpladeEncoder(folder, batch_size=3))


def test_each_call_reports_its_own_statistics(tiny_model_dir: Path) -> None:
    encoder = SpladeEncoder(tiny_model_dir)
    long_text = "protein " * 700
    stats: dict[int, list[tuple[int, int]]] = {i: [] for i in range(THREADS)}

    def work(thread: int) -> None:
        texts = [long_text] * thread + ["short"]  # thread i cuts exactly i texts
        for _ in range(ROUNDS):
            result = encoder.encode_with_stats(texts)
            stats[thread].append((result.stats.texts, result.stats.truncated))

    run_threads(work)
    for thread, seen in stats.items():
        assert seen == [(thread + 1, thread)] * ROUNDS
    assert not hasattr(encoder, "last_stats")


def test_one_milvus_store_serves_several_threads(milvus_uri: str, collection_name: str) -> None:
    from spladekit.store.milvus import MilvusStore

    with MilvusStore(milvus_uri, collection=collection_name) as store:
        failures: list[str] = []

        def work(thread: int) -> None:
            for i in range(10):
                doc = f"t{thread}-{i}"
                store.upsert([doc], [{1000 * thread + i + 1: 1.0}], [doc])
                hits = store.search({1000 * thread + i + 1: 1.0}, k=3)[0]
                if [h.id for h in hits] != [doc]:
                    failures.append(f"{doc}: {[h.id for h in hits]}")

        run_threads(work)
        assert not failures
        assert store.count() == THREADS * 10
        store.drop()
