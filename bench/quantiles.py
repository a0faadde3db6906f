"""Quantiles: exact ones over recorded samples, and Prometheus-style ones over buckets.

The generator records every request's latency, so HTTP percentiles are exact
(nearest-rank). End-to-end latency is only observable inside the daemon, which exports it
as a histogram; its percentiles are estimated the way PromQL's ``histogram_quantile`` does
it (linear interpolation inside the bucket holding the rank), so the figures match what an
operator would see on a dashboard and are only as fine as the bucket layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN when there are none.

    ``q`` is a fraction in [0, 1]; ``q=0.99`` over 1000 values is the 990th smallest.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError("q must be within [0, 1]")
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Estimate the ``q`` quantile from cumulative buckets ``(upper_bound, count)``.

    Follows PromQL's rules: buckets are sorted by upper bound and must end with ``+Inf``;
    the lowest bucket's lower bound is 0 (unless its upper bound is not positive, in which
    case that upper bound is returned); a rank falling into the ``+Inf`` bucket answers the
    highest finite bound. Returns NaN when there are no observations or fewer than two
    buckets.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets)
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return math.nan
    total = ordered[-1][1]
    if total <= 0:
        return math.nan
    rank = q * total
    index = next(i for i, (_, count) in enumerate(ordered) if count >= rank)
    if index == len(ordered) - 1:
        return ordered[-2][0]
    upper, count = ordered[index]
    if index == 0:
        if upper <= 0:
            return upper
        lower, below = 0.0, 0.0
    else:
        lower, below = ordered[index - 1]
    in_bucket = count - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / in_bucket
