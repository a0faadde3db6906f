"""Every Redis key triaged uses, in one place (docs/redis-keys.md describes them).

All keys share the ``triaged:`` prefix so one Redis can be shared with other tools and
``redis-cli --scan --pattern 'triaged:*'`` shows exactly ours.
"""

from __future__ import annotations

import hashlib
from typing import Final

PREFIX: Final = "triaged:"

INGEST_STREAM: Final = PREFIX + "stream:ingest"
DEAD_STREAM: Final = PREFIX + "stream:dead"
PIPELINE_GROUP: Final = "pipeline"

INCIDENT_SEQ: Final = PREFIX + "seq:incident"
INCIDENTS_INDEX: Final = PREFIX + "index:incidents"
EXPIRY: Final = PREFIX + "timers:expiry"
AUTO_RESOLVE: Final = PREFIX + "timers:autoresolve"
RETAIN_INCIDENTS: Final = PREFIX + "retention:incidents"
RETAIN_ALERTS: Final = PREFIX + "retention:alerts"
HEARTBEATS: Final = PREFIX + "timers:heartbeat"
ESCALATIONS: Final = PREFIX + "timers:escalation"
SILENCES: Final = PREFIX + "silences"
TOPOLOGY: Final = PREFIX + "topology"
HISTORY: Final = PREFIX + "history:facts"
INHIBITING: Final = PREFIX + "inhibiting"
SUPPRESSED_INCIDENTS: Final = PREFIX + "suppressed-incidents"
PROCESS_TIMERS: Final = PREFIX + "timers:process"


def alert(fingerprint: str) -> str:
    return f"{PREFIX}alert:{fingerprint}"


def incident_for_key(key: str) -> str:
    return f"{PREFIX}key:{key}"


def incident(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}"


def incident_alerts(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:alerts"


def incident_timeline(incident_id: str) -> str:
    return f"{PREFIX}incident:{incident_id}:timeline"


def index(field: str, value: str) -> str:
    """Incidents by field value (status, group, priority, category), scored by id number."""
    return f"{PREFIX}index:{field}:{value}"


def heartbeat(name: str) -> str:
    return f"{PREFIX}heartbeat:{name}"


def consumer_alive(consumer: str) -> str:
    return f"{PREFIX}consumer:{consumer}"


# The incident process (daemon/process_stage.py, daemon/stakeholders.py): who hears of an
# incident besides its resolver group, and the recent incidents recurrence counts.
def subscribers(scope: str, name: str) -> str:
    """Stakeholder subscriptions of a service (``scope`` "service") or an incident."""
    return f"{PREFIX}subscribers:{scope}:{name}"


def recurrence(basis: str, value: str) -> str:
    """Recent incidents of one key or one service and category, scored by creation time.

    The value is hashed: it may be long, and it is a key or a label value from an alert."""
    digest = hashlib.sha256(f"{basis}\0{value}".encode()).hexdigest()[:24]
    return f"{PREFIX}recurrence:{digest}"


def incident_number(incident_id: str) -> int:
    return int(incident_id.rsplit("-", 1)[1])


def incident_id(number: int) -> str:
    return f"INC-{number}"


# Delivery (daemon/delivery): the notification outbox, its retry timers and dead letters,
# and the per-notification and per-channel state that makes delivery once-only and polite.
OUTBOX_STREAM: Final = PREFIX + "stream:outbox"
OUTBOX_DEAD: Final = PREFIX + "stream:outbox:dead"
DELIVERY_GROUP: Final = "delivery"
DELIVERY_RETRIES: Final = PREFIX + "timers:delivery"


def delivery(idempotency_key: str) -> str:
    """A notification's marker: ``sending:<consumer>`` while in flight, then ``delivered``."""
    return f"{PREFIX}delivery:{idempotency_key}"


def channel_rate(channel: str) -> str:
    """A channel's rate-limit state: the GCRA theoretical arrival time, epoch seconds."""
    return f"{PREFIX}ratelimit:channel:{channel}"


# Triage models (daemon/corrections.py, daemon/retrain.py): operators' reassignments and
# reclassifications kept as training labels, and the lock that runs one retrain at a time.
CORRECTIONS_STREAM: Final = PREFIX + "stream:corrections"
CORRECTIONS_MAX: Final = 100_000
RETRAIN_LOCK: Final = PREFIX + "lock:retrain"
# Correlation (triage/correlation, daemon/correlation_stage.py, docs/correlation.md): the
# candidate index, per-incident profiles, admission, operator overrides and corrections.
TOPOLOGY_VERSION: Final = PREFIX + "topology:version"
ADMISSIONS: Final = PREFIX + "timers:admission"
CORR_SLOTS: Final = PREFIX + "corr:slots"
OVERRIDES: Final = PREFIX + "corr:overrides"
MERGE_REQUESTS: Final = PREFIX + "corr:merge-requests"
GROUPING_CORRECTIONS: Final = PREFIX + "stream:corrections:grouping"
CORR_PROFILE_PREFIX: Final = PREFIX + "corr:profile:"


def corr_slot(slot: str) -> str:
    """A slot of the candidate index: open incidents whose alerts named one component."""
    return f"{PREFIX}corr:slot:{slot}"


def corr_profile(incident_id: str) -> str:
    return f"{CORR_PROFILE_PREFIX}{incident_id}"


def corr_pending(key: str) -> str:
    """The alerts an incident key holds until it passes the admission thresholds."""
    return f"{PREFIX}corr:pending:{key}"


def corr_override(key: str) -> str:
    """An operator's grouping correction for an incident key (merge or split)."""
    return f"{PREFIX}corr:override:{key}"
