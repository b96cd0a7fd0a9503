"""spladekit serve against a naive server: single-query requests from a load generator.

    .venv/bin/python bench/bench_serve.py [--model DIR] [--duration 20] [--clients 1,32]
                                          [--naive-lock] [--skip-naive] [--json FILE]

Both servers answer ``POST /embed_sparse`` with ``{"inputs": query, "prompt_name": "query"}``
for the first N SciFact queries (queries.jsonl order, all splits: ``_common.scifact_queries``),
cycled; the load generator is ``wrk`` (Debian package ``wrk``), in its
own process, on loopback, for a fixed duration per concurrency (wrk's connections = clients).

- the naive server (bench/_naive_server.py): pymilvus-model's SpladeEmbeddingFunction behind a
  minimal one-request-one-encode FastAPI endpoint, in the reference's virtual environment
  (``_common.REFERENCE_PYTHON``: /tmp/ref/venv/bin/python, or SPLADEKIT_REFERENCE_PYTHON);
- ``spladekit serve`` with its defaults (dynamic batching, 16,384 tokens per batch);
- the in-process baseline: spladekit's ``encode_queries([q])`` one query per call
  (bench_latency.py's worker), for the 1-client latency target (p50/p99 by
  ``_common.percentile``).

Prints requests/s, p50, p99 (wrk's latency distribution) and errors (non-2xx answers and socket
errors) per server and concurrency, and the targets of issue 9: at 32 clients >= 4x the naive
server's requests/s with p99 no worse than its p99; at 1 client p50 within 1.5 ms of the
in-process single-query p50. Servers run one at a time, each stopped (SIGTERM) before the next.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from _common import (
    BENCH,
    REFERENCE_PYTHON,
    SPLADE_TINY,
    cpu_summary,
    model_folder,
    percentile,
    python_lacks,
    scifact_queries,
)

LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/embed_sparse", {["Content-Type"] = "application/json"}, bodies[i])
end
"""


def lua_string(text: str) -> str:
    """A Lua string literal (long bracket form cannot hold every text; escape instead)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        out.append(ch if 32 <= byte < 127 and ch not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not become healthy in {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def warm_up(url: str, bodies: list[str], n: int = 30) -> None:
    for body in bodies[:n]:
        request = urllib.request.Request(
            f"{url}/embed_sparse", data=body.encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def parse_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """requests/s, p50/p99 ms and error counts from wrk's --latency report."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if not (rps and total and p50 and p99):
        raise RuntimeError(f"could not read wrk's report:\n{output}")
    socket_errors = sum(int(x) for x in sockets.groups()) if sockets else 0
    return {
        "requests": int(total.group(1)),
        "rps": float(rps.group(1)),
        "p50_ms": parse_ms(p50.group(1)),
        "p99_ms": parse_ms(p99.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": socket_errors,
    }


def load(url: str, script: Path, clients: int, duration: float) -> dict[str, Any]:
    command = [
        "wrk", "--latency", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{duration:g}s",
        "--timeout", "30s", "-s", str(script), url,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    return parse_wrk(proc.stdout)


def in_process_p50(model: str, queries_file: Path, work: Path) -> dict[str, float]:
    out = work / "in-process.json"
    subprocess.run(
        [sys.executable, str(BENCH / "bench_latency.py"), "--worker", "torch-fp32", "--model",
         model, "--queries", str(queries_file), "--out", str(out)],
        check=True,
    )
    times = json.loads(out.read_text(encoding="utf-8"))["times_ms"]
    return {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99),
            "mean_ms": statistics.fmean(times)}


def start_naive(model: str, lock: bool, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [str(REFERENCE_PYTHON), str(BENCH / "_naive_server.py"), "--model", model, "--port",
               str(port)]
    if lock:
        command.append("--lock")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    return proc, f"http://127.0.0.1:{port}"


def start_spladekit(model: str, log: Path, extra: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "spladekit.cli", "serve", "--model", model, "--port", "0",
               *extra]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://\S+)", log.read_text(errors="replace"))
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"spladekit serve exited: {log.read_text(errors='replace')}")
        time.sleep(0.1)
    raise RuntimeError("spladekit serve did not print its address")


def run_server(
    name: str, started: tuple[subprocess.Popen[bytes], str], bodies: list[str], script: Path,
    clients: list[int], duration: float,
) -> list[dict[str, Any]]:
    proc, url = started
    rows = []
    try:
        wait_healthy(url, proc)
        warm_up(url, bodies)
        for c in clients:
            print(f"  {name}: {c} client(s), {duration:g} s ...", flush=True)
            rows.append({"server": name, "clients": c, **load(url, script, c, duration)})
    finally:
        code = stop(proc)
        print(f"  {name}: stopped with status {code}", flush=True)
    return rows


def _print_issue15(ours: dict[str, Any], baseline: dict[str, float]) -> None:
    """Issue 15: 32 clients >= 2.5x the queries/s of one in-process caller (one query per
    call, back to back: 1000 / its mean ms), p99 <= 4x that caller's p50."""
    alone = 1000.0 / baseline["mean_ms"]
    ratio = ours["rps"] / alone
    p99 = ours["p99_ms"] / baseline["p50_ms"]
    print(f"issue 15 target 32 clients >= 2.5x in-process queries/s ({alone:.1f}/s): "
          f"{'met' if ratio >= 2.5 else 'MISSED'} ({ratio:.2f}x); p99 <= 4x in-process p50: "
          f"{'met' if p99 <= 4 else 'MISSED'} ({p99:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=str(SPLADE_TINY), help="tiny | bert-base | ... | a model folder"
    )
    parser.add_argument("--n", type=int, default=300, help="distinct queries, cycled")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per run")
    parser.add_argument("--clients", default="1,32")
    parser.add_argument("--naive-lock", action="store_true", help="serialise the naive encodes")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--serve-args", default="", help="extra spladekit serve options")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed (apt-get install wrk)")
    lacks = python_lacks(REFERENCE_PYTHON, ("pymilvus", "fastapi", "uvicorn"))
    if lacks and not args.skip_naive:
        sys.exit(f"the naive server cannot run: {lacks}; {REFERENCE_PYTHON.parent}/pip install "
                 "fastapi uvicorn (or set SPLADEKIT_REFERENCE_PYTHON), or --skip-naive")
    clients = [int(c) for c in args.clients.split(",")]
    args.model = str(model_folder(args.model))  # the names of _common.MODEL_NAMES, or a folder
    queries = scifact_queries(args.n)
    bodies = [json.dumps({"inputs": q, "prompt_name": "query"}) for q in queries]
    print(f"{len(queries)} SciFact queries, one per request, model {args.model}, "
          f"{args.duration:g} s per run, clients {clients}")
    print(f"CPU: {cpu_summary()}")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="spladekit-bench-serve-") as tmp:
        work = Path(tmp)
        script = work / "queries.lua"
        script.write_text(LUA % ",".join(lua_string(b) for b in bodies), encoding="utf-8")
        queries_file = work / "queries.json"
        queries_file.write_text(json.dumps(queries), encoding="utf-8")
        print("in-process: spladekit encode_queries, one query per call ...", flush=True)
        baseline = in_process_p50(args.model, queries_file, work)
        if not args.skip_naive:
            started = start_naive(args.model, args.naive_lock, work / "naive.log")
            name = "naive (locked)" if args.naive_lock else "naive"
            results += run_server(name, started, bodies, script, clients, args.duration)
        started = start_spladekit(args.model, work / "serve.log", args.serve_args.split())
        results += run_server("spladekit serve", started, bodies, script, clients, args.duration)

    print(f"\nin-process single query: p50 {baseline['p50_ms']:.2f} ms, "
          f"p99 {baseline['p99_ms']:.2f} ms")
    header = f"{'server':<18} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(header)
    for r in results:
        errors = r["non_2xx"] + r["socket_errors"]
        print(f"{r['server']:<18} {r['clients']:>7} {r['rps']:>9.1f} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {errors:>7}")
    ours = {r["clients"]: r for r in results if r["server"] == "spladekit serve"}
    naive = {r["clients"]: r for r in results if r["server"] != "spladekit serve"}
    if 32 in ours and 32 in naive:
        ratio = ours[32]["rps"] / naive[32]["rps"]
        p99_ok = ours[32]["p99_ms"] <= naive[32]["p99_ms"]
        print(f"target 32 clients req/s >= 4x naive: {'met' if ratio >= 4 else 'MISSED'} "
              f"({ratio:.2f}x); p99 <= naive p99: {'met' if p99_ok else 'MISSED'} "
              f"({ours[32]['p99_ms']:.2f} vs {naive[32]['p99_ms']:.2f} ms)")
    if 1 in ours:
        gap = ours[1]["p50_ms"] - baseline["p50_ms"]
        print(f"target 1 client p50 within 1.5 ms of in-process: "
              f"{'met' if gap <= 1.5 else 'MISSED'} ({gap:+.2f} ms)")
    if 32 in ours:
        _print_issue15(ours[32], baseline)
    if args.json:
        args.json.write_text(json.dumps(
            {"cpu": cpu_summary(), "in_process": baseline, "results": results}, indent=2
        ))


if __name__ == "__main__":
    main()
