"""The search page in a real headless browser (Chromium from the Debian packages, driven by
Playwright): it asks for the key, takes a query, and shows the expected document with its
score, text, metadata, the query's weighted terms and the hit's matching terms.

scripts/setup.sh installs chromium (apt) and playwright (pip); the test skips only when no
Chromium binary exists.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from support.serve_process import post

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

DOCS = [
    {"id": "page-tardigrade", "text": "Tardigrades survive exposure to the vacuum of space.",
     "metadata": {"year": 2008, "journal": "Current Biology"}},
    {"id": "page-coral", "text": "Warming oceans bleach coral reefs worldwide.",
     "metadata": {"year": 2021}},
    {"id": "page-markup", "text": 'Honeybee <img src=x onerror="window.pwned=1"> navigation.',
     "metadata": {"note": "<b>not bold</b>"}},
]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium binary (scripts/setup.sh installs the Debian chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def indexed(served: Any) -> Any:
    answer = post(served.url, "/documents", {"documents": DOCS}, served.key)
    assert answer.status_code == 200, answer.text
    return served


def test_a_person_finds_the_expected_document(browser: Any, indexed: Any) -> None:
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(indexed.url + "/")

    # The server has a key: the page asks for it, refuses a wrong one, accepts the right one.
    page.wait_for_selector("#key-form:not([hidden])")
    assert page.is_hidden("#search-form")
    page.fill("#api-key", "wrong-key")
    page.click("#key-form button")
    page.wait_for_selector("#status.error")
    assert "That key was refused" in page.inner_text("#status")
    page.fill("#api-key", indexed.key)
    page.click("#key-form button")
    page.wait_for_selector("#search-form:not([hidden])")
    assert "collection served" in page.inner_text("#about")

    page.fill("#query", "tardigrades in outer space")
    page.press("#query", "Enter")
    page.wait_for_selector("#hits li.hit")
    first = page.locator("#hits li.hit").first
    assert first.get_attribute("data-id") == "page-tardigrade"
    assert first.locator(".text").inner_text() == DOCS[0]["text"]
    assert first.locator(".score").inner_text().startswith("score ")
    assert "Current Biology" in first.locator(".metadata").inner_text()
    matches = first.locator(".matches .term").all_inner_texts()
    assert any(m.startswith("space") for m in matches)
    # The query's terms, drawn as bars whose widths follow the weights (heaviest full width).
    bars = page.locator("#query-terms li")
    assert bars.count() >= 5
    widths = [float(page.locator("#query-terms .fill").nth(i).evaluate("e => e.style.width")
                    .rstrip("%")) for i in range(bars.count())]
    assert widths[0] == 100.0 and widths == sorted(widths, reverse=True)
    assert "hit" in page.inner_text("#status")
    # The collection has BM25: the page offers the hybrid mode, and it finds the document too.
    page.select_option("#mode", "hybrid")
    page.fill("#query", "tardigrades vacuum")
    page.press("#query", "Enter")
    page.wait_for_function(
        "() => document.querySelector('#query-terms li') && "
        "document.querySelector('#hits li.hit')?.dataset.id === 'page-tardigrade'"
    )
    # No script error and no content-security-policy violation; the refused key's 401s are
    # the only failed loads.
    assert [p for p in problems if "status of 401" not in p] == []


def test_the_page_shows_markup_in_documents_as_text(browser: Any, indexed: Any) -> None:
    page = browser.new_page()
    page.goto(indexed.url + "/")
    page.evaluate("key => sessionStorage.setItem('spladekit-api-key', key)", indexed.key)
    page.reload()
    page.wait_for_selector("#search-form:not([hidden])")
    page.fill("#query", "honeybee navigation")
    page.press("#query", "Enter")
    page.wait_for_selector("#hits li.hit[data-id='page-markup']")
    hit = page.locator("#hits li.hit[data-id='page-markup']")
    assert "<img src=x" in hit.locator(".text").inner_text()
    assert "<b>not bold</b>" in hit.locator(".metadata").inner_text()
    assert hit.locator("img, b").count() == 0
    assert page.evaluate("window.pwned") is None
