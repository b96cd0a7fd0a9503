"""The Prometheus text exposition of /metrics, parsed rather than searched.

``prometheus_client``'s own parser (installed with ``spladekit[serve]``) reads the families with
their HELP and TYPE lines; :class:`Scrape` then finds one sample by its exact name and exact
label set, and refuses a sample that appears twice.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

LabelSet = frozenset[tuple[str, str]]


class Scrape:
    """One /metrics answer: its families by name, and every sample by name and labels."""

    def __init__(self, text: str) -> None:
        self.families: dict[str, Metric] = {}
        self.samples: dict[tuple[str, LabelSet], float] = {}
        for family in text_string_to_metric_families(text):
            assert family.name not in self.families, f"family {family.name} appears twice"
            self.families[family.name] = family
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                assert key not in self.samples, f"sample {key} appears twice"
                self.samples[key] = float(sample.value)

    def family(self, name: str) -> Metric:
        assert name in self.families, f"no family {name}; got {sorted(self.families)}"
        return self.families[name]

    def value(self, name: str, labels: Mapping[str, str] | None = None,
              default: float | None = None) -> float:
        """The sample ``name`` with exactly ``labels``; ``default`` when absent (else fail)."""
        key = (name, frozenset((labels or {}).items()))
        if key not in self.samples:
            assert default is not None, f"no sample {name}{dict(labels or {})}"
            return default
        return self.samples[key]

    def label_sets(self, name: str) -> list[dict[str, str]]:
        """Every label set the sample ``name`` has."""
        return [dict(labels) for sample, labels in self.samples if sample == name]
