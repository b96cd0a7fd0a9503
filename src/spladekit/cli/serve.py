"""``spladekit serve``: the SPLADE service (TEI's /embed_sparse, search, a page) over HTTP."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import click

from ..serve.config import ServeConfig
from .options import (
    EncoderChoice,
    allow_other_model_option,
    encoder_options,
    store_config,
    store_options,
    with_bm25_options,
)

if TYPE_CHECKING:
    from ..store import StoreConfig

# Defaults come from the service's own declaration.
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ServeConfig)}


@click.command()
@encoder_options
@store_config
@store_options
@click.option(
    "--collection", envvar="SPLADEKIT_COLLECTION", default=None,
    callback=lambda ctx, param, value: value or None,  # "" too: encoding only
    help="Collection behind /search and /documents; none: encoding only "
    "[env: SPLADEKIT_COLLECTION].",
)
@allow_other_model_option
@with_bm25_options
@click.option(
    "--host", envvar="SPLADEKIT_HOST", default=_DEFAULTS["host"], show_default=True,
    help="Address to listen on; anything but loopback is reachable from other machines "
    "[env: SPLADEKIT_HOST].",
)
@click.option(
    "--port", envvar="SPLADEKIT_PORT", type=click.IntRange(0, 65535), default=_DEFAULTS["port"],
    show_default=True, help="Port to listen on (0: any free port) [env: SPLADEKIT_PORT].",
)
@click.option(
    "--api-key", envvar="SPLADEKIT_API_KEY", default=None,
    help="Require 'Authorization: Bearer KEY' on every route but /health, /metrics and the "
    "page; prefer the environment variable, which other users cannot see "
    "[env: SPLADEKIT_API_KEY].",
)
@click.option(
    "--max-batch-tokens", envvar="SPLADEKIT_MAX_BATCH_TOKENS", type=click.IntRange(min=1),
    default=_DEFAULTS["max_batch_tokens"], show_default=True,
    help="Tokens per merged encode call.",
)
@click.option(
    "--max-client-batch-size", envvar="SPLADEKIT_MAX_CLIENT_BATCH_SIZE",
    type=click.IntRange(min=1), default=_DEFAULTS["max_client_batch_size"], show_default=True,
    help="Inputs (or documents) per request; more: 413.",
)
@click.option(
    "--payload-limit", envvar="SPLADEKIT_PAYLOAD_LIMIT", type=click.IntRange(min=1),
    default=_DEFAULTS["payload_limit"], show_default=True,
    help="Request body bytes; more: 413.",
)
@click.option(
    "--max-concurrent-requests", envvar="SPLADEKIT_MAX_CONCURRENT_REQUESTS",
    type=click.IntRange(min=1), default=_DEFAULTS["max_concurrent_requests"],
    show_default=True, help="Inputs queued or being encoded; more: 429 at once.",
)
@click.option(
    "--batch-window-ms", type=click.FloatRange(min=0), default=_DEFAULTS["batch_window_ms"],
    show_default=True,
    help="How long a batch waits for more requests while others are on their way.",
)
@click.option(
    "--auto-truncate/--no-auto-truncate", default=True, show_default=True,
    help="What a request without 'truncate' gets: truncation, or 422 for a text too long.",
)
@click.option("--query-instruction", default="", help="Prepended to texts with prompt_name query.")
@click.option("--doc-instruction", default="", help="Prepended to texts with prompt_name document.")
@click.option(
    "--k-tokens-query", type=click.IntRange(min=1), default=None,
    help="Keep the heaviest N weights of queries (prompt_name query).",
)
@click.option(
    "--k-tokens-document", type=click.IntRange(min=1), default=None,
    help="Keep the heaviest N weights of documents (prompt_name document, /documents).",
)
@click.option(
    "--graceful-timeout", type=click.FloatRange(min=0), default=_DEFAULTS["graceful_timeout"],
    show_default=True,
    help="Seconds in-flight requests get to finish after SIGTERM.",
)
@click.option(
    "--allowed-hosts", envvar="SPLADEKIT_ALLOWED_HOSTS", default="",
    help="Comma-separated host names the Host header may carry besides the address listened "
    "on (behind a proxy: its public name; * for any) [env: SPLADEKIT_ALLOWED_HOSTS].",
)
@click.option(
    "--max-header-bytes", type=click.IntRange(min=1), default=_DEFAULTS["max_header_bytes"],
    show_default=True, help="Bytes of a request's line and headers; more: 431.",
)
@click.option(
    "--max-headers", type=click.IntRange(min=1), default=_DEFAULTS["max_headers"],
    show_default=True, help="Headers per request; more: 431.",
)
@click.option(
    "--header-timeout", type=click.FloatRange(min=0, min_open=True),
    default=_DEFAULTS["header_timeout"], show_default=True,
    help="Seconds a request's headers may take to arrive; longer: 408.",
)
@click.option(
    "--body-timeout", type=click.FloatRange(min=0, min_open=True),
    default=_DEFAULTS["body_timeout"], show_default=True,
    help="Seconds a request body may pause before it is complete; longer: 408.",
)
def serve(
    encoder: EncoderChoice,
    store: StoreConfig | None,
    host: str,
    port: int,
    api_key: str | None,
    max_batch_tokens: int,
    max_client_batch_size: int,
    payload_limit: int,
    max_concurrent_requests: int,
    batch_window_ms: float,
    auto_truncate: bool,
    query_instruction: str,
    doc_instruction: str,
    k_tokens_query: int | None,
    k_tokens_document: int | None,
    graceful_timeout: float,
    allowed_hosts: str,
    max_header_bytes: int,
    max_headers: int,
    header_timeout: float,
    body_timeout: float,
) -> None:
    """Serve SPLADE over HTTP: TEI's POST /embed_sparse with dynamic batching, and with
    --collection POST /search, POST /documents and a search page at /.

    Listens on 127.0.0.1:8000 by default; /health answers 503 until the model is loaded.
    SIGTERM stops accepting, finishes what is in flight, and exits 0.
    """
    from ..serve.runner import run

    config = ServeConfig(
        model=encoder.model,
        encoder=encoder.config,
        query_instruction=query_instruction,
        doc_instruction=doc_instruction,
        k_tokens_query=k_tokens_query,
        k_tokens_document=k_tokens_document,
        store=store,
        api_key=api_key or None,
        host=host,
        port=port,
        max_batch_tokens=max_batch_tokens,
        max_client_batch_size=max_client_batch_size,
        payload_limit=payload_limit,
        max_concurrent_requests=max_concurrent_requests,
        batch_window_ms=batch_window_ms,
        auto_truncate=auto_truncate,
        graceful_timeout=graceful_timeout,
        allowed_hosts=tuple(h.strip() for h in allowed_hosts.split(",") if h.strip()),
        max_header_bytes=max_header_bytes,
        max_headers=max_headers,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
    )
    if config.public and config.api_key is None:
        click.echo(
            f"warning: listening on {host} without an API key: anyone who can reach this "
            "machine can encode, search and write; set --api-key (or SPLADEKIT_API_KEY)",
            err=True,
        )

    def announce(url: str) -> None:
        click.echo(f"spladekit serve: listening on {url} (loading {encoder.model})", err=True)

    run(config, announce=announce)
    click.echo("spladekit serve: stopped", err=True)


COMMANDS = [serve]
