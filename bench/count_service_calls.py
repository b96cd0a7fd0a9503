"""How much work one ``/embed_sparse`` request costs the service: tokenizer and encode calls.

    .venv/bin/python bench/count_service_calls.py [--model tiny] [--clients 1,32] [--requests 96]
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python bench/count_service_calls.py  # compare

Runs the service in this process (uvicorn on a loopback port, in a thread) on the first SciFact
queries, one query per request, and counts with wrappers around the library's own functions:

- tokenizer calls: :class:`spladekit.tokenize.TokenIds` running the tokenizer (its batch
  encode, and the prefix shortcut for huge texts);
- encode calls: a route encoding texts (``encode_tokens``, or ``encode_rows`` where a checkout
  has that instead), i.e. one merged pass of the model over a batch;
- model passes: the backend's ``pool`` (``pool_sparse`` on a GPU).

Prints calls per request for each number of concurrent clients (``--clients``). Only counts are
measured here, not time: bench_serve.py times the service.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import cpu_summary, model_folder, scifact_queries

COUNTS: Counter[str] = Counter()
_LOCK = threading.Lock()


def counted(owner: type, name: str, label: str) -> None:
    """Wrap ``owner.name`` (if the checkout has it) so that each call adds one to ``label``."""
    original: Callable[..., Any] | None = owner.__dict__.get(name)
    if original is None:
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            COUNTS[label] += 1
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def instrument() -> None:
    from spladekit import routes, tokenize
    from spladekit.backends.torch_backend import TorchBackend

    counted(tokenize.TokenIds, "_encode", "tokenizer")
    counted(tokenize.TokenIds, "_from_prefix", "tokenizer")
    for route in (routes.MlmRoute, routes.StaticRoute):
        counted(route, "encode_tokens", "encode")
        counted(route, "encode_rows", "encode")
    counted(TorchBackend, "pool", "model pass")
    counted(TorchBackend, "pool_sparse", "model pass")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(port: int, query: str) -> None:
    body = json.dumps({"inputs": query, "prompt_name": "query"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/embed_sparse", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--clients", default="1,32")
    parser.add_argument("--requests", type=int, default=96)
    args = parser.parse_args()

    import uvicorn

    import spladekit
    from spladekit.serve.app import create_app
    from spladekit.serve.config import ServeConfig

    instrument()
    folder = model_folder(args.model)
    print(f"spladekit from {spladekit.__file__}")
    print(f"model {folder}; CPU: {cpu_summary()}")
    port = free_port()
    app = create_app(ServeConfig(model=str(folder), port=port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    queries = scifact_queries(args.requests)
    deadline = time.monotonic() + 120
    while True:  # the model loads in the background; /health says 200 once it is ready
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the service did not become ready in 120 s") from None
            time.sleep(0.2)
    print(f"{'clients':>8} {'requests':>9} {'tokenizer/req':>14} {'encode/req':>11} "
          f"{'model passes/req':>17}")
    for clients in [int(c) for c in args.clients.split(",")]:
        COUNTS.clear()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda q: post(port, q), queries))
        n = len(queries)
        print(f"{clients:>8} {n:>9} {COUNTS['tokenizer'] / n:>14.2f} "
              f"{COUNTS['encode'] / n:>11.2f} {COUNTS['model pass'] / n:>17.2f}")
    server.should_exit = True
    thread.join(timeout=30)


if __name__ == "__main__":
    main()
