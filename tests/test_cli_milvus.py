"""`spladekit index`, `search` and `eval`, including a real SIGKILL in the middle of indexing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from spladekit.cli import main
from spladekit.store.milvus import MilvusStore


def short_corpus(scifact_dir: Path, n: int, chars: int = 160) -> list[dict[str, str]]:
    """The first ``n`` SciFact documents, cut short so that the tests encode quickly."""
    rows = []
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            rows.append({"id": str(row["_id"]), "text": f"{row['title']} {row['text'][:chars]}"})
            if len(rows) == n:
                break
    return rows


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_index_is_resumable_and_search_prints_ranked_json_lines(
    tmp_path: Path, tiny_model_dir: Path, scifact_dir: Path
) -> None:
    rows = short_corpus(scifact_dir, 24)
    rows[5]["metadata"] = {"source": "scifact"}  # type: ignore[assignment]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)  # type: ignore[arg-type]
    uri = str(tmp_path / "cli.db")
    common = ["--uri", uri, "--collection", "docs", "--model", str(tiny_model_dir)]

    code, out, err = run_cli("index", str(corpus), *common, "--chunk-size", "10", "-q")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["seen"], summary["encoded"], summary["skipped"], summary["stored"]) == (
        24, 24, 0, 24,
    )
    code, out, _ = run_cli("index", str(corpus), *common, "-q")
    assert json.loads(out)["encoded"] == 0 and json.loads(out)["skipped"] == 24

    query = rows[5]["text"]
    code, out, err = run_cli("search", query, "cell biology", *common, "-k", "3", "--width", "40")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(h["query"], h["rank"]) for h in lines[:3]] == [(query, 1), (query, 2), (query, 3)]
    assert lines[0]["id"] == rows[5]["id"] and lines[0]["metadata"] == {"source": "scifact"}
    assert lines[0]["score"] >= lines[1]["score"] >= lines[2]["score"]
    assert len(lines[0]["text"]) <= 40 and lines[0]["text"].endswith("…")
    assert {h["query"] for h in lines} == {query, "cell biology"}


def test_search_errors_are_one_line(tmp_path: Path, tiny_model_dir: Path) -> None:
    model = ["--model", str(tiny_model_dir)]
    code, out, err = run_cli("search", "anything", "--uri", str(tmp_path / "none.db"), *model)
    assert code == 1 and out == ""
    assert err.startswith("error: no Milvus Lite file") and err.count("\n") == 1

    uri = str(tmp_path / "lite.db")
    with MilvusStore(uri, collection="docs") as store:
        store.upsert(["a"], [{1: 1.0}])
    code, _, err = run_cli(
        "search", "anything", "--uri", uri, "--collection", "docs", *model,
        "--drop-ratio-search", "0.3",
    )
    assert code == 1 and "Milvus Lite" in err and "Traceback" not in err


def write_tiny_beir(folder: Path, scifact_dir: Path, n_queries: int = 6, extra: int = 30) -> None:
    """A BEIR folder from a slice of SciFact: a few test queries, their documents, distractors."""
    qrels_lines = (scifact_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]
    qrels: dict[str, list[str]] = {}
    for line in qrels_lines:
        qid, did, _ = line.split("\t")
        if qid in qrels or len(qrels) < n_queries:
            qrels.setdefault(qid, []).append(did)
    wanted = {d for docs in qrels.values() for d in docs}
    corpus: list[dict[str, object]] = []
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if str(row["_id"]) in wanted or len(corpus) < extra:
                row["text"] = row["text"][:200]
                corpus.append(row)
    queries: list[dict[str, object]] = []
    with open(scifact_dir / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            if str(row["_id"]) in qrels:
                queries.append(row)
    (folder / "qrels").mkdir(parents=True)
    write_jsonl(folder / "corpus.jsonl", corpus)
    write_jsonl(folder / "queries.jsonl", queries)
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n"
        + "".join(f"{q}\t{d}\t1\n" for q, docs in qrels.items() for d in docs)
    )


METRIC_NAMES = ["nDCG@10", "MRR@10", "Recall@100"]


@dataclass
class EvalText:
    """`spladekit eval`'s table: a title, a header, one row per system, then two summary lines."""

    title: str
    systems: dict[str, dict[str, float]]
    indexing: str
    search: str


def eval_text(out: str) -> EvalText:
    title, header, *rows, indexing, search = out.splitlines()
    assert re.fullmatch(r".+ \(test\): \d+ documents, \d+ queries", title), title
    assert header.split() == ["system", *METRIC_NAMES], header
    systems: dict[str, dict[str, float]] = {}
    for row in rows:
        *label, ndcg, mrr, recall = row.split()
        assert all(re.fullmatch(r"[01]\.\d{4}", v) for v in (ndcg, mrr, recall)), row
        systems[" ".join(label)] = dict(zip(METRIC_NAMES, map(float, (ndcg, mrr, recall)),
                                            strict=True))
    assert indexing.startswith("indexing: ") and search.startswith("search: ")
    return EvalText(title, systems, indexing.removeprefix("indexing: "),
                    search.removeprefix("search: "))


def rounded(metrics: dict[str, float]) -> dict[str, float]:
    """Metrics as the table shows them: four decimals."""
    return {name: float(f"{metrics[name]:.4f}") for name in METRIC_NAMES}


def test_eval_reports_metrics_beside_bm25_and_reuses_the_index(
    tmp_path: Path, tiny_model_dir: Path, scifact_dir: Path
) -> None:
    dataset = tmp_path / "tiny-scifact"
    write_tiny_beir(dataset, scifact_dir)
    model = tmp_path / "My Model.v2"  # the collection name is derived from the folder's name
    model.symlink_to(tiny_model_dir, target_is_directory=True)
    args = ["eval", str(dataset), "--uri", str(tmp_path / "eval.db")]
    args += ["--model", str(model)]

    code, out, err = run_cli(*args, "--json", "-q")
    assert code == 0, err
    report = json.loads(out)
    assert report["queries"] == 6 and report["encoded"] == report["documents"] > 30
    for system in ("spladekit", "bm25"):
        assert set(report[system]) == {"nDCG@10", "MRR@10", "Recall@100"}
        assert all(0.0 <= v <= 1.0 for v in report[system].values())
    # With its relevant documents among ~40, every query finds them within the top 100.
    assert report["spladekit"]["Recall@100"] == 1.0
    assert report["documents_per_second"] > 0 and report["queries_per_second"] > 0
    # One collection per dataset and model folder, in Milvus's name alphabet.
    assert report["collection"] == "eval_tiny_scifact_my_model_v2"

    code, out, err = run_cli(*args, "--json", "-q")
    assert code == 0, err
    again = json.loads(out)
    assert (again["encoded"], again["reused"]) == (0, report["documents"])
    assert (again["spladekit"], again["bm25"]) == (report["spladekit"], report["bm25"])

    code, out, err = run_cli(*args, "-q")  # the table, from the same index
    assert code == 0, err
    text = eval_text(out)
    assert list(text.systems) == ["spladekit", "BM25 (bm25s)"]
    assert text.systems["spladekit"] == rounded(report["spladekit"])
    assert text.systems["BM25 (bm25s)"] == rounded(report["bm25"])
    assert text.indexing == f"all {report['documents']} documents reused from collection " \
        f"'{report['collection']}'"
    assert re.fullmatch(r"\d+\.\d queries/s \(encode \+ one batched search call\)", text.search)


PROGRESS = re.compile(r"(\d+)/(\d+) \[")


def index_command(corpus: Path, uri: str, model: Path) -> list[str]:
    return [
        sys.executable, "-m", "spladekit.cli", "index", str(corpus), "--uri", uri,
        "--collection", "resume", "--model", str(model), "--chunk-size", "10", "--batch-size", "5",
    ]


def run_until_killed(command: list[str], after: int) -> int:
    """Start ``spladekit index``, SIGKILL it once its progress bar shows ``after`` documents."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stderr is not None
    done = 0
    buffer = b""
    deadline = time.monotonic() + 240
    timer = threading.Timer(240, process.kill)
    timer.start()
    try:
        while done < after and time.monotonic() < deadline:
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                break
            buffer = (buffer + chunk)[-2000:]
            counts = [int(m.group(1)) for m in PROGRESS.finditer(buffer.decode(errors="replace"))]
            done = max([done, *counts])
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        timer.cancel()
    assert process.returncode == -signal.SIGKILL, "the index run ended before it could be killed"
    return done


def test_sigkill_mid_index_then_rerun_stores_every_document_once(
    tmp_path: Path, tiny_model_dir: Path, scifact_dir: Path, milvus_uri: str
) -> None:
    rows = short_corpus(scifact_dir, 100, chars=60)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)  # type: ignore[arg-type]
    ids = [r["id"] for r in rows]
    command = index_command(corpus, milvus_uri, tiny_model_dir)
    if not milvus_uri.endswith(".db"):
        with MilvusStore(milvus_uri, collection="resume") as store:
            store.drop()  # the server is shared by the session

    shown = run_until_killed(command, after=30)
    assert 30 <= shown < len(rows)
    with MilvusStore(milvus_uri, collection="resume") as store:
        stored_after_kill = store.count()
    # Chunks of 10 are written before the next one is encoded: at least 2 were stored.
    assert 20 <= stored_after_kill < len(rows)

    rerun = subprocess.run([*command, "-q"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] == stored_after_kill
    assert summary["encoded"] == len(rows) - stored_after_kill  # nothing stored is re-encoded
    with MilvusStore(milvus_uri, collection="resume") as store:
        # count(*) counts rows: equal to the number of distinct ids, all present, means each
        # document is stored exactly once.
        assert store.count() == len(rows)
        assert store.existing_ids(ids) == set(ids)
        texts = {d.id: d.text for d in store.get(ids)}
        assert texts == {r["id"]: r["text"] for r in rows}
        store.drop()


def test_index_with_bm25_then_search_in_every_mode(
    tmp_path: Path, tiny_model_dir: Path, scifact_dir: Path
) -> None:
    rows = short_corpus(scifact_dir, 20)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)  # type: ignore[arg-type]
    common = ["--uri", str(tmp_path / "h.db"), "--collection", "h", "--model", str(tiny_model_dir)]
    code, out, err = run_cli("index", str(corpus), *common, "--bm25", "-q")
    assert code == 0, err
    query = rows[3]["text"]
    found = {}
    for mode in ("splade", "bm25", "hybrid"):
        code, out, err = run_cli("search", query, *common, "--mode", mode, "-k", "3")
        assert code == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines[0]["id"] == rows[3]["id"]  # its own text finds it in every mode
        found[mode] = [line["score"] for line in lines]
    assert all(0 < s < 0.05 for s in found["hybrid"])  # RRF scores: sums of 1/(60 + rank)
    code, out, err = run_cli(
        "search", query, *common, "--mode", "hybrid", "--fusion", "weighted", "--weights", "0.7,0.3"
    )
    assert code == 0, err
    code, _, err = run_cli("search", query, *common, "--weights", "0.5")
    assert code == 2 and "expected two numbers" in err


def test_eval_hybrid_reports_four_systems_and_keeps_existing_keys(
    tmp_path: Path, tiny_model_dir: Path, scifact_dir: Path
) -> None:
    dataset = tmp_path / "tiny-scifact"
    write_tiny_beir(dataset, scifact_dir)
    args = ["eval", str(dataset), "--uri", str(tmp_path / "eval.db")]
    args += ["--model", str(tiny_model_dir)]
    code, out, err = run_cli(*args, "--hybrid", "--json", "-q")
    assert code == 0, err
    report = json.loads(out)
    for system in ("spladekit", "bm25", "milvus_bm25", "hybrid"):
        assert set(report[system]) == {"nDCG@10", "MRR@10", "Recall@100"}
    assert report["fusion"] == {"fusion": "rrf", "candidates": 100, "rrf_k": 60}
    assert set(report["queries_per_second_by_mode"]) == {"splade", "bm25", "hybrid"}
    assert report["collection"].endswith("_bm25")
    code, out, err = run_cli(*args, "--hybrid", "-q")
    assert code == 0, err
    systems = eval_text(out).systems
    assert systems == {
        "spladekit": rounded(report["spladekit"]),
        "Milvus BM25": rounded(report["milvus_bm25"]),
        "hybrid (rrf, candidates=100, rrf_k=60)": rounded(report["hybrid"]),
        "BM25 (bm25s)": rounded(report["bm25"]),
    }
    assert list(systems)[1:3] == ["Milvus BM25", "hybrid (rrf, candidates=100, rrf_k=60)"]
