"""The pure routing core: who gets an incident, and how it escalates.

Like ``triage``, this package takes plain values and ``now`` (UTC epoch seconds) and returns
decisions that carry their reasons. One module per concern:

- ``matchers``: label and incident-field matchers with Alertmanager's semantics;
- ``timeconditions``: weekdays, hours and holidays in a named time zone;
- ``tree``: the route tree and the routing decision with its trace;
- ``groups``: resolver groups and who in them is on call;
- ``escalation``: policies and the next escalation step for an incident;
- ``silences``: silences, maintenance windows and inhibition rules;
- ``config``: strict schemas and their compilation into a ``RoutingTable`` (``table``).
"""

from routing.config import (
    ConfigProblem,
    RoutingConfig,
    RoutingConfigError,
    compile_routing,
    compile_silence,
    load_routing,
    parse_routing_config,
)
from routing.escalation import (
    EscalationPlan,
    EscalationState,
    EscalationStep,
    Recipient,
    manual_escalation,
    next_escalation,
    plan_escalation,
    resolve_recipients,
)
from routing.groups import OnCall, who_is_on_call
from routing.matchers import Subject
from routing.silences import (
    InhibitionIndex,
    MuteReason,
    Suppression,
    active_maintenance,
    index_firing,
    suppression_for,
)
from routing.table import RoutingTable
from routing.tree import ModelSuggestion, RouteTrace, RoutingDecision

__all__ = [
    "ConfigProblem",
    "EscalationPlan",
    "EscalationState",
    "EscalationStep",
    "InhibitionIndex",
    "ModelSuggestion",
    "MuteReason",
    "OnCall",
    "Recipient",
    "RouteTrace",
    "RoutingConfig",
    "RoutingConfigError",
    "RoutingDecision",
    "RoutingTable",
    "Subject",
    "Suppression",
    "active_maintenance",
    "compile_routing",
    "compile_silence",
    "index_firing",
    "load_routing",
    "manual_escalation",
    "next_escalation",
    "parse_routing_config",
    "plan_escalation",
    "resolve_recipients",
    "suppression_for",
    "who_is_on_call",
]
