"""The pure routing core: who gets an incident, and how it escalates.

Like ``triage``, this package takes plain values and ``now`` and returns decisions.
"""
