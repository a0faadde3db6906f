"""The pure domain core of triaged: alerts, dedup state, correlation and incidents.

Nothing in this package does I/O; callers pass plain values (and ``now``) in and get
decisions back, so every rule can be tested in microseconds with a controlled clock.
"""
