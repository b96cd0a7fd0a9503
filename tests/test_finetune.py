"""``spladekit finetune`` end to end on a slice of SciFact with the real splade-tiny: the loss
falls and the vectors move, the output loads equally in spladekit and sentence-transformers,
the card is there and ``inspect`` shows it, a run killed with SIGKILL resumes to the same
weights, the inference-free path trains only the document side, and re-indexing goes into a
new collection while the mined one keeps its model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from spladekit import MilvusStore, SpladeEncoder
from spladekit.finetune import FinetuneResult, MiningConfig, TrainConfig, finetune
from spladekit.finetune.settings import STATE_FILE
from spladekit.finetune.training import last_complete_checkpoint
from support.finetune import scifact_slice

pytestmark = pytest.mark.slow

SMALL = TrainConfig(epochs=2, batch_size=8, max_length=64, learning_rate=1e-4, seed=7)
TEXTS = [
    "Vitamin D deficiency is associated with a higher risk of fractures in older adults.",
    "insulin resistance",
    "Macrophages secrete cytokines that recruit neutrophils to the site of infection.",
]


@pytest.fixture(scope="module")
def slice_dir(scifact_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scifact_slice(scifact_dir, tmp_path_factory.mktemp("slice") / "scifact-slice",
                         train_queries=24, test_queries=8, extra_docs=120)


@pytest.fixture(scope="module")
def tuned(slice_dir: Path, tiny_model_dir: Path,
          tmp_path_factory: pytest.TempPathFactory) -> FinetuneResult:
    out = tmp_path_factory.mktemp("ft") / "tuned"
    return finetune(slice_dir, model=tiny_model_dir, out=out, config=SMALL,
                    mining=MiningConfig(negatives=1, window=(3, 30)), dev_fraction=0.2,
                    reindex="tuned_corpus", uri=str(out.parent / "milvus.db"))


def test_a_short_fine_tune_lowers_the_loss_and_moves_the_vectors(
    tuned: FinetuneResult, tiny_model_dir: Path
):
    assert tuned.training.steps > 0
    assert tuned.training.loss_after < tuned.training.loss_before
    before = SpladeEncoder(tiny_model_dir).encode_documents(TEXTS).toarray()
    after = SpladeEncoder(tuned.model_dir).encode_documents(TEXTS).toarray()
    assert np.abs(after - before).max() > 1e-3
    assert tuned.tuned.fingerprint != tuned.base.fingerprint


def test_the_run_reports_its_data_mining_budget_and_before_after_figures(
    tuned: FinetuneResult,
):
    assert tuned.data_rule == "labels: qrels/train.tsv"
    assert tuned.dev_rule.startswith("held out from train: 4 of 24 queries")
    assert tuned.mining is not None and tuned.mining.mode == "hybrid"
    assert tuned.budget.document == tuned.nnz_before[0]
    assert tuned.budget_met == (tuned.nnz_after[0] <= tuned.nnz_before[0]
                                and tuned.nnz_after[1] <= tuned.nnz_before[1])
    evaluation = tuned.evaluation
    assert evaluation["split"] == "test"
    for side in ("base", "tuned"):
        assert set(evaluation[side]["spladekit"]) == {"nDCG@10", "MRR@10", "Recall@100"}
        assert evaluation[side]["hybrid"] is not None
        assert evaluation[side]["queries"] == 8


def test_the_output_gives_equal_vectors_in_spladekit_and_sentence_transformers(
    tuned: FinetuneResult,
):
    from sentence_transformers import SparseEncoder

    ours = SpladeEncoder(tuned.model_dir).encode_documents(TEXTS).toarray()
    theirs = SparseEncoder(str(tuned.model_dir), device="cpu").encode_document(
        TEXTS, convert_to_tensor=True).to_dense().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_the_card_records_base_data_and_figures_and_inspect_shows_it(tuned: FinetuneResult):
    record = json.loads((tuned.model_dir / "spladekit_finetune.json").read_text())
    assert record["base_model"]["fingerprint"] == tuned.base.fingerprint
    assert record["data"]["rule"] == "labels: qrels/train.tsv"
    assert len(record["data"]["digest"]) == 64
    assert record["hyperparameters"]["learning_rate"] == SMALL.learning_rate
    assert record["evaluation"]["tuned"]["spladekit"] == tuned.evaluation["tuned"]["spladekit"]
    card = (tuned.model_dir / "README.md").read_text()
    assert tuned.base.fingerprint in card and "| fine-tuned SPLADE |" in card
    shown = subprocess.run(
        [sys.executable, "-m", "spladekit.cli", "inspect", str(tuned.model_dir)],
        capture_output=True, text=True, check=True,
    ).stdout
    assert f"fine-tuned  from {tuned.base.name!r} (fingerprint {tuned.base.fingerprint})" in shown
    ndcg = tuned.evaluation["tuned"]["spladekit"]["nDCG@10"]
    assert f"tuned     nDCG@10 {ndcg:.4f}" in shown


def test_reindex_goes_into_a_new_collection_recorded_with_the_new_model(
    tuned: FinetuneResult, slice_dir: Path
):
    store = MilvusStore(str(tuned.model_dir.parent / "milvus.db"), collection="tuned_corpus",
                        create=False, model=tuned.tuned)
    try:
        assert store.count() == len((slice_dir / "corpus.jsonl").read_text().splitlines())
    finally:
        store.close()
    assert not tuned.model_dir.with_name("tuned.work").exists()


def test_an_existing_output_is_never_overwritten(tuned: FinetuneResult, slice_dir: Path,
                                                 tiny_model_dir: Path):
    from spladekit import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="already exists"):
        finetune(slice_dir, model=tiny_model_dir, out=tuned.model_dir, config=SMALL)


def _command(data: Path, model: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "spladekit.cli", "finetune", str(data), "--model", str(model),
        "--out", str(out), "--epochs", "3", "--batch-size", "8", "--max-length", "48",
        "--learning-rate", "1e-4", "--seed", "5", "--no-eval", "--mine-window", "3:30",
        "--quiet",
    ]


def _weights(folder: Path) -> dict[str, np.ndarray]:
    return load_file(str(folder / "model.safetensors"))


def test_a_run_killed_with_sigkill_resumes_to_the_weights_of_an_uninterrupted_one(
    slice_dir: Path, tiny_model_dir: Path, tmp_path: Path
):
    whole = tmp_path / "whole"
    subprocess.run(_command(slice_dir, tiny_model_dir, whole), check=True, capture_output=True)
    killed = tmp_path / "killed"
    work = killed.with_name("killed.work")
    process = subprocess.Popen(_command(slice_dir, tiny_model_dir, killed),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    # Killed once the first epoch's checkpoint is complete: training is in epoch two.
    while last_complete_checkpoint_exists(work) is False and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint was written in 10 minutes"
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not killed.exists()
    done = subprocess.run([*_command(slice_dir, tiny_model_dir, killed), "--json"],
                          check=True, capture_output=True, text=True)
    result = json.loads(done.stdout)
    assert result["training"]["resumed_from"].startswith("checkpoint-")
    ours, reference = _weights(killed), _weights(whole)
    assert ours.keys() == reference.keys()
    for name in reference:
        np.testing.assert_array_equal(ours[name], reference[name], err_msg=name)


def last_complete_checkpoint_exists(work: Path) -> bool:
    folder = work / "checkpoints"
    return folder.is_dir() and any((c / STATE_FILE).is_file() for c in folder.iterdir())


def test_incomplete_checkpoints_are_removed_and_the_last_complete_one_is_used(tmp_path: Path):
    for step, complete in ((4, True), (8, True), (12, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "trainer_state.json").write_text("{}")
        if complete:
            (folder / STATE_FILE).write_text("{}")
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-8"
    assert not (tmp_path / "checkpoint-12").exists()


def test_inference_free_training_keeps_the_idf_query_side_and_moves_documents(
    slice_dir: Path, tiny_model_dir: Path, tmp_path: Path
):
    result = finetune(slice_dir, model=tiny_model_dir, out=tmp_path / "if", config=SMALL,
                      inference_free=True, mining=MiningConfig(window=(3, 30)),
                      eval_split=None)
    tuned = SpladeEncoder(result.model_dir)
    assert tuned.spec.query.kind == "static"
    assert result.budget.query is None
    from spladekit import build_inference_free
    from spladekit.finetune.stores import corpus_records

    idf_only = build_inference_free(
        tiny_model_dir, (r.text for r in corpus_records(slice_dir / "corpus.jsonl")),
        tmp_path / "idf-only")
    reference = SpladeEncoder(idf_only)
    np.testing.assert_array_equal(tuned.encode_queries(TEXTS).toarray(),
                                  reference.encode_queries(TEXTS).toarray())
    moved = np.abs(tuned.encode_documents(TEXTS).toarray()
                   - reference.encode_documents(TEXTS).toarray()).max()
    assert moved > 1e-3


def test_a_run_killed_after_its_model_is_in_place_finishes_the_reindex_when_rerun(
    slice_dir: Path, tiny_model_dir: Path, tmp_path: Path
):
    out = tmp_path / "tuned"
    db = tmp_path / "milvus.db"
    command = [*_command(slice_dir, tiny_model_dir, out), "--epochs", "1", "--uri", str(db),
               "--reindex", "tuned_docs"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    placed = out.with_name("tuned.work") / "placed"
    deadline = time.monotonic() + 600
    while not placed.exists() and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    fingerprint = SpladeEncoder(out).model_identity.fingerprint
    done = subprocess.run([*command, "--json"], check=True, capture_output=True, text=True)
    result = json.loads(done.stdout)
    assert result["reindexed"] == "tuned_docs"
    assert result["tuned"]["fingerprint"] == fingerprint
    store = MilvusStore(str(db), collection="tuned_docs", create=False)
    try:
        assert store.count() == len((slice_dir / "corpus.jsonl").read_text().splitlines())
    finally:
        store.close()
    assert not out.with_name("tuned.work").exists()
