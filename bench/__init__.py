"""Benchmark tooling for triaged: a load generator and a scenario runner.

Nothing here is imported by the daemon. The modules are split so that the parts with
arithmetic worth testing (fingerprints, quantiles, mix scheduling, payload building) are
pure and covered by ``tests/unit/test_bench_*.py``, while the I/O lives in ``loadgen`` and
``run``.
"""
