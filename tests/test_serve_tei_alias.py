"""`POST /` is TEI's embedding alias: a TEI client posting to the base URL gets sparse vectors.

Spec: on `spladekit serve`, `POST /` answers exactly as `POST /embed_sparse` does (same body,
same vectors, same errors) and needs the API key like it; `GET /` is still the search page.
Haystack's TEI sparse embedders against the service are in tests/integrations/test_haystack.py.
"""

from __future__ import annotations

from typing import Any

import httpx

from support.serve_process import post

TEXTS = ["who invented the telephone", "Graphene conducts electricity better than copper."]


def test_post_to_the_base_url_embeds_as_embed_sparse_does(served: Any) -> None:
    alias = post(served.url, "/", {"inputs": TEXTS}, served.key)
    route = post(served.url, "/embed_sparse", {"inputs": TEXTS}, served.key)
    assert alias.status_code == 200, alias.text
    assert alias.headers["content-type"].startswith("application/json")
    assert alias.json() == route.json()
    expected = served.reference(TEXTS)
    first = alias.json()[0]
    assert [e["index"] for e in first] == expected[[0]].indices.tolist()


def test_a_single_string_and_prompt_names_work_on_the_alias(served: Any) -> None:
    body = {"inputs": TEXTS[0], "prompt_name": "query"}
    one = post(served.url, "/", body, served.key)
    same = post(served.url, "/embed_sparse", body, served.key)
    assert one.status_code == 200 and one.json() == same.json()


def test_the_alias_needs_the_api_key_and_refuses_what_embed_sparse_refuses(served: Any) -> None:
    assert post(served.url, "/", {"inputs": TEXTS}).status_code == 401
    bad = post(served.url, "/", {"inputs": 3}, served.key)
    route = post(served.url, "/embed_sparse", {"inputs": 3}, served.key)
    assert bad.status_code == route.status_code
    assert 400 <= bad.status_code < 500


def test_get_on_the_base_url_is_still_the_page(served: Any) -> None:
    page = httpx.get(f"{served.url}/", timeout=30)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
