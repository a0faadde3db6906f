"""Reading the daemon's ``/metrics``: snapshots, sums and histogram deltas.

The benchmark judges the daemon by the daemon's own counters (how many alerts it accepted
and processed, how long the pipeline took), read before and after a run, so the figures
are the ones an operator would see and need no cooperation from the daemon beyond its
public metrics. Samples are indexed by sample name (``..._total``, ``..._bucket``), which
sidesteps the parser's family naming.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

RECEIVED = "triaged_alerts_received_total"
PROCESSED = "triaged_pipeline_alerts_processed_total"
END_TO_END = "triaged_pipeline_end_to_end_seconds"
PENDING = "triaged_stream_pending_entries"
REDIS_RSS = "triaged_redis_memory_rss_bytes"
DAEMON_RSS = "process_resident_memory_bytes"
INCIDENTS_OPEN = "triaged_incidents_open"

#: What the periodic sampler needs; a filtered scrape parses only these lines, which keeps
#: a 0.5 s sampling loop cheap even when the daemon exports many fine-grained histograms.
SAMPLED = (DAEMON_RSS, REDIS_RSS, PENDING, PROCESSED, INCIDENTS_OPEN, RECEIVED)

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Snapshot:
    """The samples of one scrape, by sample name."""

    samples: Mapping[str, list[tuple[Labels, float]]]

    def has(self, name: str) -> bool:
        return name in self.samples

    def total(self, name: str, **match: str) -> float | None:
        """Sum of the samples called ``name`` whose labels include ``match``; None if the
        daemon does not export ``name`` at all (as opposed to exporting zero)."""
        series = self.samples.get(name)
        if series is None:
            return None
        return sum(
            value
            for labels, value in series
            if all(labels.get(key) == want for key, want in match.items())
        )

    def buckets(self, histogram: str) -> list[tuple[float, float]]:
        """Cumulative ``(upper_bound, count)`` of a histogram, summed over its other labels."""
        summed: dict[float, float] = {}
        for labels, value in self.samples.get(histogram + "_bucket", []):
            bound = float(labels["le"])
            summed[bound] = summed.get(bound, 0.0) + value
        return sorted(summed.items())


def parse(text: str, only: Iterable[str] | None = None) -> Snapshot:
    """Parse Prometheus text exposition; with ``only``, keep just those metric names
    (a histogram name keeps its ``_bucket``, ``_count`` and ``_sum`` series)."""
    wanted = None if only is None else tuple(only)
    if wanted is not None:
        text = "\n".join(
            line for line in text.splitlines() if line and _kept(_sample_name(line), wanted)
        )
    samples: dict[str, list[tuple[Labels, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if wanted is not None and not _kept(sample.name, wanted):
                continue
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return Snapshot(samples)


def _sample_name(line: str) -> str:
    end = len(line)
    for stop in ("{", " "):
        found = line.find(stop)
        if found != -1:
            end = min(end, found)
    return line[:end]


def _kept(sample: str, wanted: tuple[str, ...]) -> bool:
    return any(
        sample == name or sample in (f"{name}_bucket", f"{name}_count", f"{name}_sum")
        for name in wanted
    )


def delta(before: Snapshot, after: Snapshot, name: str, **match: str) -> float | None:
    """Increase of a counter between two snapshots; None when ``after`` lacks it.

    A counter ``before`` lacks counts as 0 there: prometheus_client prints no sample for a
    labelled counter until its first increment.
    """
    last = after.total(name, **match)
    if last is None:
        return None
    return last - (before.total(name, **match) or 0.0)


def bucket_delta(before: Snapshot, after: Snapshot, histogram: str) -> list[tuple[float, float]]:
    """Cumulative buckets of the observations made between two snapshots.

    A bound missing from ``before`` (the daemon had not exported the series yet) counts
    as zero there.
    """
    earlier = dict(before.buckets(histogram))
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after.buckets(histogram)]


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN: turn "no estimate" into None."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value
