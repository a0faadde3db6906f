"""Correlation: which incident an alert belongs to, why, and what the incident touches.

Pure functions over values the shell loads through bounded indexes (never a scan of open
incidents); docs/correlation.md describes the indexes, the stored state and the call
order. The modules, in the order an alert meets them:

- ``gate``: count and time thresholds before a key may open an incident;
- ``engine``: ``plan`` the index reads, ``pick`` candidates, ``correlate`` (override, key,
  topology, similarity, or new), with the evidence for the trace;
- ``profile``: the bounded per-incident summary, suspected root cause and impact;
- ``corrections``: merge and split, with overrides for later alerts;
- ``flapping``: per-alert state-change history and the no-re-notify verdict;
- ``topology``, ``features``, ``index``, ``config``: the graph, alert features, slots.
"""

from triage.correlation.config import CorrelationConfig, Flapping, Thresholds, Weights
from triage.correlation.corrections import (
    GroupingCorrection,
    MergeResult,
    SplitResult,
    merge,
    split,
)
from triage.correlation.engine import (
    Action,
    Candidate,
    Decision,
    Evidence,
    Lookup,
    Override,
    Relation,
    Rule,
    correlate,
    key_is_live,
    pick,
    plan,
    similarity,
)
from triage.correlation.features import AlertFacts, Features, features
from triage.correlation.flapping import FlapState, FlapVerdict, observe, settled
from triage.correlation.gate import Admission, Gate, Pending, on_due, on_firing, on_resolved
from triage.correlation.index import SlotIndex, entity_slots, slot
from triage.correlation.profile import Impact, IncidentProfile, Root, build_profile
from triage.correlation.topology import Topology, TopologyDocument

__all__ = [
    "Action",
    "Admission",
    "AlertFacts",
    "Candidate",
    "CorrelationConfig",
    "Decision",
    "Evidence",
    "Features",
    "FlapState",
    "FlapVerdict",
    "Flapping",
    "Gate",
    "GroupingCorrection",
    "Impact",
    "IncidentProfile",
    "Lookup",
    "MergeResult",
    "Override",
    "Pending",
    "Relation",
    "Root",
    "Rule",
    "SlotIndex",
    "SplitResult",
    "Thresholds",
    "Topology",
    "TopologyDocument",
    "Weights",
    "build_profile",
    "correlate",
    "entity_slots",
    "features",
    "key_is_live",
    "merge",
    "observe",
    "on_due",
    "on_firing",
    "on_resolved",
    "pick",
    "plan",
    "settled",
    "similarity",
    "slot",
    "split",
]
