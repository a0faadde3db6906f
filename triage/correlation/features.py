"""What correlation reads from one alert: its facts, and the features derived from them.

Features are computed once per alert and are all small sets of strings, so comparing an
alert with a candidate incident costs a few set intersections. Text is normalised so that
two firings of one rule on different replicas read the same: replica names (the values of
instance labels) are cut out of the text, digit runs become ``0``, and tokens that are
only digits and punctuation (values, addresses) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from triage.correlation.config import CorrelationConfig
from triage.severity import parse_severity

_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_TOKEN = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
_DIGITS = re.compile(r"[0-9]+")
# Function words, and the words the common description template adds to every alert
# ("VALUE = ... LABELS = map[...]").
_STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "been", "by", "for", "from", "has", "have"}
    | {"in", "into", "is", "it", "its", "of", "on", "or", "than", "that", "the", "this"}
    | {"to", "was", "were", "will", "with", "labels", "value", "map"}
)
MAX_TOKENS = 48


class AlertFacts(msgspec.Struct, frozen=True):
    """One firing alert as correlation needs it.

    ``key`` is the alert's incident key (``triage.correlate.incident_key``) and ``at``
    the sender's time of the firing (``starts_at``), which orders all decisions.
    """

    fingerprint: str
    key: str
    labels: dict[str, str]
    at: float
    summary: str = ""
    description: str = ""

    @classmethod
    def of(
        cls,
        fingerprint: str,
        key: str,
        labels: Mapping[str, str],
        annotations: Mapping[str, str],
        at: float,
    ) -> AlertFacts:
        """From an ``Alert`` or ``AlertState``'s fields (summary falls back to title)."""
        return cls(
            fingerprint=fingerprint,
            key=key,
            labels=labels if isinstance(labels, dict) else dict(labels),
            at=at,
            summary=annotations.get("summary") or annotations.get("title", ""),
            description=annotations.get("description") or annotations.get("message", ""),
        )


class Features(msgspec.Struct, frozen=True):
    scope: str
    service: str | None
    alertname: str
    instance: str | None
    entities: frozenset[str]  # lower-cased values of entity labels (service included)
    tokens: frozenset[str]  # normalised words of summary and description
    label_pairs: frozenset[str]  # "name=value" of every label but instance labels
    propagates: bool  # its name says errors, latency or unavailability (symptom_terms)
    may_cause: bool  # it propagates, or is at least ``cause_severity``


def features(
    alert: AlertFacts, config: CorrelationConfig, *, text: bool = True, name: bool = True
) -> Features:
    """The alert's features. ``text=False`` leaves out the word and label-pair sets that
    only similarity and new exemplars use; ``name=False`` does not read the name for
    symptom words (``propagates`` False, ``may_cause`` from the severity alone): for an
    alert joining by key whose service's first symptom and cause are already known."""
    labels = alert.labels
    scope = next((labels[n] for n in config.scope_labels if labels.get(n)), "")
    service = labels.get(config.service_label) or None
    replicas = [labels[n] for n in config.instance_labels if labels.get(n)]
    named = set(config.entity_labels)
    entities = frozenset(
        value.lower()
        for name, value in labels.items()
        if name in named and value and value not in replicas
    )
    alertname = labels.get("alertname", "")
    propagates = False
    if name:
        name_words = {w.lower() for w in _CAMEL.findall(alertname)}
        name_words.update(_TOKEN.findall(alert.summary.lower()))
        propagates = not name_words.isdisjoint(config.symptom_terms)
    words = frozenset[str]()
    pairs = frozenset[str]()
    if text:
        body = f"{alert.summary}\n{alert.description}"
        for replica in replicas:
            body = body.replace(replica, " ")
        words = tokens(body)
        pairs = frozenset(
            f"{name}={value}"
            for name, value in labels.items()
            if name not in config.instance_labels
        )
    return Features(
        scope=scope,
        service=service,
        alertname=alertname,
        instance=replicas[0] if replicas else None,
        entities=entities,
        tokens=words,
        label_pairs=pairs,
        propagates=propagates,
        may_cause=propagates
        or parse_severity(labels.get("severity")) <= parse_severity(config.cause_severity),
    )


def tokens(text: str) -> frozenset[str]:
    """Normalised words: lower case, digit runs as ``0``, stopwords and numbers dropped,
    at most ``MAX_TOKENS`` (the first ones: summaries come first and matter most)."""
    words: dict[str, None] = {}
    for word in _TOKEN.findall(_DIGITS.sub("0", text.lower())):
        if word in _STOPWORDS or not word.strip("0-_"):
            continue
        words[word] = None
        if len(words) == MAX_TOKENS:
            break
    return frozenset(words)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)
