"""What every framework test compares against: spladekit's own search on the same corpus.

The frameworks' tests run in their own virtual environments (scripts/setup_integrations.sh
builds them; scripts/test.sh runs them); in an environment without the framework each test
module skips itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from shared import CORPUS, SpladeSearch, canonical


@pytest.fixture(scope="session")
def splade_search(tiny_model_dir: Path) -> SpladeSearch:
    """spladekit's own SPLADE search over CORPUS (Retriever on the exact MemoryStore)."""
    from spladekit import MemoryStore, Retriever, SpladeEncoder

    retriever = Retriever(SpladeEncoder(tiny_model_dir), MemoryStore())
    retriever.index(list(CORPUS.items()))

    def search(query: str, k: int) -> list[tuple[str, float]]:
        return canonical([(hit.id, hit.score) for hit in retriever.search(query, k)])

    return search
