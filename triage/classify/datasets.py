"""Readers for the shared datasets, each applying the fixed split rule its README states.

The rules hash a stable key, so every run, on every machine, puts the same rows in test and
figures compare across runs. Confidence thresholds are chosen by cross-validation inside the
training side (``training.py``), so test is exactly the README's and is only read to report.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from triage.classify.values import TriageInput

Side = Literal["train", "test"]


@dataclass(frozen=True, slots=True)
class Example:
    item: TriageInput
    label: str
    key: str


@dataclass(frozen=True, slots=True)
class Dataset:
    """One labelled corpus, split; ``sha256`` is of the file as read, for the manifest."""

    name: str
    path: Path
    sha256: str
    licence: str
    attribution: str
    train: list[Example]
    test: list[Example]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def slugify(name: str) -> str:
    """Catalogue group name to label: lower case, every run of other characters -> ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _bucket100(key: str) -> int:
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 100


def _percent_side(key: str) -> Side:
    """The 80/20 rule of the ticket and incident READMEs."""
    return "test" if _bucket100(key) >= 80 else "train"


def _sampled(key: str, sample: float | None) -> bool:
    """A deterministic subsample, independent of the split hash's low buckets."""
    if sample is None:
        return True
    digest = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16)
    return digest % 10_000 < sample * 10_000


def _split(
    name: str,
    path: Path,
    licence: str,
    attribution: str,
    rows: Iterator[tuple[Side, Example]],
    sample: float | None,
) -> Dataset:
    sides: dict[Side, list[Example]] = {"train": [], "test": []}
    for side, example in rows:
        if _sampled(example.key, sample):
            sides[side].append(example)
    return Dataset(
        name,
        path,
        file_sha256(path),
        licence,
        attribution,
        sides["train"],
        sides["test"],
    )


ALERT_CATALOGUE = "awesome-prometheus-alerts"
TICKETS = "it-service-tickets-v3"
ENDAVA = "endava-tickets-head5k"
INCIDENT_LOG = "uci-incident-event-log"

CATALOGUE_ATTRIBUTION = (
    '"Awesome Prometheus alerts" by Samuel Berthe and contributors '
    "(samber/awesome-prometheus-alerts, _data/rules.yml, commit a8533189af02), CC BY 4.0"
)


def read_alert_catalogue(
    datasets_dir: Path, sample: float | None = None, *, target: Literal["category", "service"]
) -> Dataset:
    """Catalogue rules as alerts: name as title, description as text.

    Test: ``sha1(group/service/rule name)`` divisible by 5 (README).
    """
    path = datasets_dir / ALERT_CATALOGUE / "rules.yml"
    catalogue = yaml.safe_load(path.read_text(encoding="utf-8"))

    def rows() -> Iterator[tuple[Side, Example]]:
        for group in catalogue["groups"]:
            for service in group.get("services") or []:
                for exporter in service.get("exporters") or []:
                    for rule in exporter.get("rules") or []:
                        key = f"{group['name']}/{service['name']}/{rule['name']}"
                        digest = int(hashlib.sha1(key.encode("utf-8")).hexdigest(), 16)
                        side: Side = "test" if digest % 5 == 0 else "train"
                        item = TriageInput(
                            title=str(rule["name"]),
                            description=str(rule.get("description") or ""),
                            source="prometheus",
                            severity=str(rule.get("severity") or "") or None,
                        )
                        label = slugify(group["name"]) if target == "category" else service["name"]
                        yield side, Example(item, label, key)

    return _split(ALERT_CATALOGUE, path, "CC BY 4.0", CATALOGUE_ATTRIBUTION, rows(), sample)


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        yield from csv.DictReader(handle)


def read_tickets(datasets_dir: Path, sample: float | None = None) -> Dataset:
    """Help-desk tickets; the text is already lower-cased title + body, as ``Document``."""
    path = datasets_dir / TICKETS / "all_tickets_processed_improved_v3.csv.gz"

    def rows() -> Iterator[tuple[Side, Example]]:
        for row in _csv_rows(path):
            doc = row["Document"]
            item = TriageInput(description=doc, source="generic")
            yield _percent_side(doc), Example(item, row["Topic_group"], doc)

    return _split(
        TICKETS,
        path,
        "CC0 (Kaggle); upstream karolzak/support-tickets-classification, MIT",
        "IT Service Ticket Classification Dataset (Kaggle, adisongoh), text from Endava / "
        "Microsoft CSE support-tickets-classification",
        rows(),
        sample,
    )


def read_endava_urgency(datasets_dir: Path, sample: float | None = None) -> Dataset:
    """Endava tickets with their operators' urgency code (0-3, anonymised)."""
    path = datasets_dir / ENDAVA / "all_tickets_head5431.csv.gz"

    def rows() -> Iterator[tuple[Side, Example]]:
        for row in _csv_rows(path):
            key = f"{row['title']}\n{row['body']}"
            item = TriageInput(title=row["title"], description=row["body"], source="generic")
            yield _percent_side(key), Example(item, row["urgency"], key)

    return _split(
        ENDAVA,
        path,
        "MIT (karolzak/support-tickets-classification); benchmark use",
        "Endava support tickets published by Microsoft CSE + Endava "
        "(karolzak/support-tickets-classification)",
        rows(),
        sample,
    )


OPENING_FIELDS = (
    "contact_type",
    "location",
    "category",
    "subcategory",
    "u_symptom",
    "cmdb_ci",
    "impact",
    "urgency",
    "priority",
    "caller_id",
    "opened_by",
    "sys_created_by",
    "knowledge",
    "u_priority_confirmation",
    "notify",
    "sys_updated_by",
)
"""Fields a service desk knows when it opens an incident (``sys_updated_by`` of the first
event is whoever saved the new record, minutes after opening). Left out on purpose: the
first ``assignment_group``/``assigned_to`` (the decision being predicted), the first
``incident_state`` (it is already ``Resolved`` when the record was only logged afterwards),
and every field the log repeats from the incident's end (``resolved_*``, ``closed_*``,
``made_sla``, counts)."""


def read_incident_log(datasets_dir: Path, sample: float | None = None) -> Dataset:
    """One example per incident: its first event's opening fields -> its final group.

    Split by incident number (README); incidents whose final group is unknown are dropped.
    """
    path = datasets_dir / INCIDENT_LOG / "incident_event_log.csv.gz"
    first: dict[str, tuple[int, dict[str, str]]] = {}
    last: dict[str, tuple[int, str]] = {}
    for row in _csv_rows(path):
        number, order = row["number"], int(row["sys_mod_count"])
        if number not in first or order < first[number][0]:
            first[number] = (order, row)
        if number not in last or order > last[number][0]:
            last[number] = (order, row["assignment_group"])

    def rows() -> Iterator[tuple[Side, Example]]:
        for number, (_, row) in first.items():
            group = last[number][1]
            if group == "?":
                continue
            labels = {f: row[f] for f in OPENING_FIELDS if row[f] != "?"}
            item = TriageInput(labels=labels, source="servicenow")
            yield _percent_side(number), Example(item, group, number)

    return _split(
        INCIDENT_LOG,
        path,
        "CC BY 4.0 (UCI Machine Learning Repository, dataset 498)",
        'UCI "Incident management process enriched event log" (Amaral et al.)',
        rows(),
        sample,
    )
