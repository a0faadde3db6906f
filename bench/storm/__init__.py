"""The correlation benchmark: seeded alert storms with ground truth, scored pairwise.

``python -m bench.storm`` (or ``python bench/storm``) runs it; docs/correlation.md has the
method and the figures. Modules: ``vocab`` (alert names and texts), ``graph`` (the
synthetic service graph), ``generate`` (storms and their ground truth), ``sim`` (the engine
behind a simulated shell, offline), ``baselines`` (static group_by), ``scoring`` (pairwise
precision/recall/F1, noise reduction), ``evaluate`` (one storm, engine and baselines),
``report`` (means, bars, tables), ``live`` (a running daemon), ``micro`` (engine cost per
alert against the number of open incidents).
"""
