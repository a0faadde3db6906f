"""The one place that turns a triage input into what a model reads.

Training and serving both call these functions, so a model can never see text prepared one
way when it was trained and another way when it serves. Every function that shapes a
model's input belongs to a *feature schema*; its id is written into each model's manifest
and checked on load. Change what a function produces, bump its schema id: old artifacts are
then refused instead of silently receiving inputs they were not trained on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from triage.classify.values import TriageInput

FeatureKind = Literal["alert-text", "ticket-text", "group-tokens"]

SCHEMA_IDS: Final[Mapping[FeatureKind, str]] = {
    "alert-text": "alert-text/v1",
    "ticket-text": "ticket-text/v1",
    "group-tokens": "group-tokens/v1",
}

TEXT_LABELS: Final = ("alertname", "job", "service", "app", "container", "exporter", "component")
"""Label values that name what is failing; they are read as words of the alert text because
the catalogue the category model learns from has no labels, only words."""

VOLATILE_LABELS: Final = frozenset(
    {
        "instance",
        "pod",
        "pod_name",
        "container_id",
        "id",
        "uid",
        "fingerprint",
        "ip",
        "host_ip",
        "address",
        "endpoint",
        "le",
        "quantile",
    }
)
"""Labels whose values differ between every alert of one kind (hosts, pods, addresses):
as group or memory features they would split alike alerts apart, so they are left out."""

_TEMPLATE = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9%]+")
_WORD = re.compile(r"[a-z][a-z0-9]+")
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Words as people write them: Go templates dropped (their values are not known at
    training time), CamelCase alert names split, everything lower-case."""
    text = _TEMPLATE.sub(" ", text)
    text = _CAMEL.sub(" ", text)
    return _NON_WORD.sub(" ", text.lower()).strip()


def alert_text(item: TriageInput) -> str:
    """Schema ``alert-text``: title, description and the naming labels, cleaned."""
    parts = [item.title, item.description]
    parts.extend(item.labels[key] for key in TEXT_LABELS if key in item.labels)
    if item.service:
        parts.append(item.service)
    return clean_text(" ".join(parts))


def ticket_text(item: TriageInput) -> str:
    """Schema ``ticket-text``: the ticket corpus is lower-cased title + body, so serve the same."""
    return " ".join(f"{item.title} {item.description}".lower().split())


def group_tokens(item: TriageInput) -> list[str]:
    """Schema ``group-tokens``: what a dispatcher looks at when choosing a team.

    Field tokens (``source=...``, ``label:<name>=<value>``, blanks as ``_`` so a token is one
    word) carry the incident's context, word tokens its text. The same function reads an
    opening ServiceNow record (all labels, no text) and a Prometheus alert (few labels, a
    sentence), so one model can learn from both.
    """
    tokens = [f"source={item.source}"]
    if item.service:
        tokens.append(f"service={item.service.lower()}")
    if item.severity:
        tokens.append(f"severity={item.severity.lower()}")
    tokens.extend(
        f"label:{key}={value}"
        for key, value in sorted(item.labels.items())
        if key not in VOLATILE_LABELS and value
    )
    words = sorted(set(_WORD.findall(clean_text(f"{item.title} {item.description}"))))
    tokens.extend(f"w:{word}" for word in words)
    return [_SPACE.sub("_", token) for token in tokens]


def documents(kind: FeatureKind, items: Iterable[TriageInput]) -> list[str]:
    """The model input for a batch: one string per item (group tokens space-separated)."""
    if kind == "alert-text":
        return [alert_text(item) for item in items]
    if kind == "ticket-text":
        return [ticket_text(item) for item in items]
    return [" ".join(group_tokens(item)) for item in items]


_MEMORY_BUCKETS: Final = 2**18
_FIELDS = HashingVectorizer(
    n_features=_MEMORY_BUCKETS,
    analyzer=lambda tokens: tokens,
    alternate_sign=False,
    norm="l2",
)
_WORDS = HashingVectorizer(
    n_features=_MEMORY_BUCKETS, ngram_range=(1, 2), alternate_sign=False, norm="l2"
)
MEMORY_FIELD_WEIGHT: Final = 0.6
"""Share of the similarity that comes from fields (source, service, labels) rather than text:
alerts of one service share their labels more reliably than their wording."""


def memory_vectors(items: Sequence[TriageInput]) -> sp.csr_matrix:
    """Unit vectors whose dot product is the corrections memory's similarity.

    Hashing keeps the memory free of any fitted vocabulary, so a correction about a service
    nobody has seen before is as comparable as any other.
    """
    fields = _FIELDS.transform(
        [[t for t in group_tokens(item) if not t.startswith("w:")] for item in items]
    )
    words = _WORDS.transform([alert_text(item) for item in items])
    return sp.hstack(
        [fields * np.sqrt(MEMORY_FIELD_WEIGHT), words * np.sqrt(1.0 - MEMORY_FIELD_WEIGHT)],
        format="csr",
    )
