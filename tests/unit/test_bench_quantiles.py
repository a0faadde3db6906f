"""Percentiles the benchmark reports: exact over samples, PromQL-like over buckets."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from bench.loadgen import slowest_window
from bench.promstats import bucket_delta, delta, parse
from bench.quantiles import histogram_quantile, percentile

INF = math.inf


def test_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile(values, 0.0) == 1.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_interpolates_linearly_inside_the_bucket() -> None:
    # 10 observations <= 0.01, 10 more in (0.01, 0.02], none above
    buckets = [(0.01, 10.0), (0.02, 20.0), (INF, 20.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.015)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.005)  # lowest bucket from 0


def test_rank_in_the_inf_bucket_answers_the_highest_finite_bound() -> None:
    buckets = [(0.1, 1.0), (1.0, 2.0), (INF, 100.0)]
    assert histogram_quantile(0.99, buckets) == 1.0


def test_unsorted_input_and_edge_cases() -> None:
    assert histogram_quantile(0.5, [(INF, 4.0), (1.0, 4.0), (0.5, 0.0)]) == pytest.approx(0.75)
    assert math.isnan(histogram_quantile(0.5, [(INF, 0.0), (1.0, 0.0)]))  # no observations
    assert math.isnan(histogram_quantile(0.5, [(INF, 3.0)]))  # one bucket
    assert math.isnan(histogram_quantile(0.5, [(1.0, 3.0), (2.0, 3.0)]))  # no +Inf
    assert histogram_quantile(-0.1, [(1.0, 1.0), (INF, 1.0)]) == -INF
    assert histogram_quantile(1.1, [(1.0, 1.0), (INF, 1.0)]) == INF


BEFORE = """\
# TYPE triaged_alerts_received_total counter
# TYPE triaged_pipeline_end_to_end_seconds histogram
triaged_pipeline_end_to_end_seconds_bucket{stage="a",le="0.01"} 5
triaged_pipeline_end_to_end_seconds_bucket{stage="a",le="0.1"} 5
triaged_pipeline_end_to_end_seconds_bucket{stage="a",le="+Inf"} 5
triaged_pipeline_end_to_end_seconds_count{stage="a"} 5
triaged_pipeline_end_to_end_seconds_sum{stage="a"} 0.02
"""

AFTER = """\
# TYPE triaged_alerts_received_total counter
triaged_alerts_received_total{source="alertmanager",outcome="accepted"} 30
triaged_alerts_received_total{source="alertmanager",outcome="rejected"} 2
# TYPE triaged_pipeline_end_to_end_seconds histogram
triaged_pipeline_end_to_end_seconds_bucket{stage="a",le="0.01"} 15
triaged_pipeline_end_to_end_seconds_bucket{stage="a",le="0.1"} 25
triaged_pipeline_end_to_end_seconds_bucket{stage="a",le="+Inf"} 25
triaged_pipeline_end_to_end_seconds_bucket{stage="b",le="0.01"} 0
triaged_pipeline_end_to_end_seconds_bucket{stage="b",le="0.1"} 10
triaged_pipeline_end_to_end_seconds_bucket{stage="b",le="+Inf"} 10
triaged_pipeline_end_to_end_seconds_count{stage="a"} 25
triaged_pipeline_end_to_end_seconds_sum{stage="a"} 1.0
process_resident_memory_bytes 1.5e+08
"""


def test_histogram_delta_over_a_run() -> None:
    before, after = parse(BEFORE), parse(AFTER)
    buckets = bucket_delta(before, after, "triaged_pipeline_end_to_end_seconds")
    assert buckets == [(0.01, 10.0), (0.1, 30.0), (INF, 30.0)]
    # rank 15 of 30 lies 5/20 into (0.01, 0.1]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01 + 0.09 * 5 / 20)


def test_counter_absent_before_counts_from_zero() -> None:
    before, after = parse(BEFORE), parse(AFTER)
    assert delta(before, after, "triaged_alerts_received_total", outcome="accepted") == 30
    assert delta(before, after, "no_such_metric_total") is None


def test_filtered_parse_keeps_only_what_was_asked() -> None:
    snap = parse(AFTER, only=("process_resident_memory_bytes",))
    assert snap.total("process_resident_memory_bytes") == 1.5e8
    assert not snap.has("triaged_alerts_received_total")
    histogram = parse(AFTER, only=("triaged_pipeline_end_to_end_seconds",))
    assert histogram.buckets("triaged_pipeline_end_to_end_seconds")[-1] == (INF, 35.0)


def test_slowest_window_of_a_run() -> None:
    per_second = Counter({0: 100, 1: 100, 2: 100, 3: 100, 4: 100, 5: 10, 6: 100})
    assert slowest_window(per_second, 7) == pytest.approx((100 * 4 + 10) / 5)
    assert slowest_window(Counter({0: 30, 1: 10}), 2) == 20.0  # short runs: whole run
    assert slowest_window(Counter(), 0) is None
