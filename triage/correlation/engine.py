"""Decide which incident a firing alert belongs to, and say why.

The shell calls, for one admitted firing alert (see ``gate`` for admission):

1. ``plan(alert, topology, config)`` -- the alert's features and the index slots to read;
2. it reads those slots (newest first, entries at or after ``lookup.since``) and passes
   what it found to ``pick`` -- at most ``max_candidates`` incident ids;
3. it loads those incidents, their profiles, the incident of the alert's key and the
   operator override of the key, and calls ``correlate``;
4. it applies the ``Decision``: attach the alert, store ``decision.profile``, touch
   ``decision.slots`` for the incident, point the key at it, merge ``decision.merge``.

Rules, first match wins:

- **override**: an operator merged or split this key; its pinned incident takes the alert
  while it is open (or reopenable), and the incidents it was split from are never joined;
- **key**: the key's incident is open, or resolved within the reopen window (the rule of
  ``triage.correlate.decide``);
- **topology**: within ``topology_window`` of an open incident's last alert, the alert's
  service depends on one of its failing services (a victim of the same cause), or one of
  its suspected roots depends on the alert's service (a deeper cause), within
  ``max_depth`` hops and ``propagation_window`` seconds of that service's failure; only
  alerts that can fail their callers take part (``Features.may_cause``); fewest hops
  win, then the freshest failure;
- **similarity**: an open incident that names one of the alert's components, active
  within ``similarity_window``, scores at least ``similarity_threshold``;
- otherwise a new incident opens.

When the alert's service is a dependency of the roots of other open incidents, it is the
common cause that explains them all: with ``auto_merge`` the decision asks to merge them
into the chosen incident (``corrections.merge`` computes how), unless an operator kept them
apart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from triage.correlate import Decision as KeyDecision
from triage.correlate import decide
from triage.correlation.config import CorrelationConfig
from triage.correlation.features import AlertFacts, Features, features, jaccard
from triage.correlation.index import entity_slots, slot
from triage.correlation.profile import IncidentProfile, new_profile, with_alert
from triage.correlation.topology import Topology
from triage.incident import Incident, IncidentStatus


class Rule(enum.StrEnum):
    OVERRIDE = "override"
    KEY = "key"
    TOPOLOGY = "topology"
    SIMILARITY = "similarity"
    NEW = "new"


class Action(enum.StrEnum):
    JOIN = "join"
    REOPEN = "reopen"
    OPEN = "open"


class Relation(enum.StrEnum):
    SAME = "same-service"  # the incident already has alerts of this service
    VICTIM = "depends-on"  # the alert's service depends on a failing service
    CAUSE = "dependency-of"  # a root of the incident depends on the alert's service


class Evidence(msgspec.Struct, frozen=True):
    """Why an alert went where it went, for the incident's trace and timeline.

    ``path`` starts at the alert's service: for ``depends-on`` it ends at the failing
    service it depends on, for ``dependency-of`` at the root that depends on it.
    """

    rule: Rule
    incident_id: str | None = None
    key: str = ""
    relation: Relation | None = None
    path: tuple[str, ...] = ()
    score: float | None = None
    parts: dict[str, float] = {}

    def describe(self) -> str:
        target = self.incident_id or "a new incident"
        if self.rule is Rule.TOPOLOGY and self.relation is Relation.SAME:
            return f"topology: {self.path[0]} already fails in {target}"
        if self.rule is Rule.TOPOLOGY:
            chain = " -> ".join(self.path if self.relation is Relation.VICTIM else self.path[::-1])
            return f"topology: {chain} (depends on, {len(self.path) - 1} hops) in {target}"
        if self.rule is Rule.SIMILARITY:
            parts = ", ".join(f"{k} {v:.2f}" for k, v in self.parts.items())
            return f"similarity {self.score:.2f} ({parts}) to {target}"
        if self.rule is Rule.KEY:
            return f"key {self.key} of {target}"
        if self.rule is Rule.OVERRIDE:
            return f"operator override of key {self.key}: {target}"
        return f"no related open incident: opened for key {self.key}"


class Override(msgspec.Struct, frozen=True):
    """An operator's grouping correction for one incident key.

    ``incident_id`` pins later alerts of the key to that incident while it is open;
    ``separate_from`` lists incidents those alerts must never join by topology or
    similarity (the other side of a split).
    """

    key: str
    incident_id: str | None
    kind: str
    actor: str
    at: float
    expires_at: float
    separate_from: tuple[str, ...] = ()

    def live(self, at: float) -> bool:
        return at <= self.expires_at


class Candidate(msgspec.Struct, frozen=True):
    """An incident the shell loaded for a decision (picked from the slots, or named by
    the key or the override), with its correlation profile."""

    incident: Incident
    profile: IncidentProfile


class Lookup(msgspec.Struct, frozen=True):
    """What the shell must read for one alert: ``slots`` nearest first, entries scored at
    or after ``since``."""

    alert: AlertFacts
    features: Features
    slots: tuple[str, ...]
    since: float


class Decision(msgspec.Struct, frozen=True):
    """What to do with the alert.

    ``profile`` is the target's profile with the alert in it (``incident_id`` empty for
    ``open``); ``slots`` are the slots to touch for the target at ``profile.last_at``;
    ``claims_key`` says the alert's key must now point at the target; ``merge`` lists
    open incidents to merge into the target (the alert ties them to it: their common
    cause, or a link of one chain of failures).
    """

    action: Action
    evidence: Evidence
    profile: IncidentProfile
    slots: tuple[str, ...]
    claims_key: bool
    merge: tuple[str, ...] = ()

    @property
    def incident_id(self) -> str | None:
        return self.evidence.incident_id

    def trace(self) -> dict[str, Any]:
        """The entry for the incident's ``triage.correlation`` trace."""
        evidence: dict[str, Any] = msgspec.to_builtins(self.evidence)
        evidence["why"] = self.evidence.describe()
        if self.merge:
            evidence["merged"] = list(self.merge)
        return evidence


def plan(alert: AlertFacts, topology: Topology, config: CorrelationConfig) -> Lookup:
    """The slots to read for ``alert``: its own components, then its service's
    dependencies and dependants by distance (at most ``max_neighbours``)."""
    feats = features(alert, config)
    own = (feats.service or "").lower()
    names = dict.fromkeys(sorted(feats.entities, key=lambda e: (e != own, e)))
    if feats.service is not None:
        for service in topology.neighbours(feats.service)[: config.max_neighbours]:
            names.setdefault(service.lower())
    window = max(config.topology_window, config.similarity_window)
    return Lookup(
        alert=alert,
        features=feats,
        slots=tuple(slot(feats.scope, name) for name in names),
        since=alert.at - window,
    )


def pick(
    lookup: Lookup, found: Mapping[str, Sequence[str]], config: CorrelationConfig
) -> list[str]:
    """The candidate incident ids from what the slots held (each newest first), at most
    ``max_candidates``: the newest of every slot in slot order, then the second newest
    of every slot, and so on, so one crowded slot cannot crowd out the others."""
    columns = [found.get(name, ()) for name in lookup.slots]
    chosen: dict[str, None] = {}
    for rank in range(max((len(c) for c in columns), default=0)):
        for column in columns:
            if rank < len(column):
                chosen[column[rank]] = None
                if len(chosen) == config.max_candidates:
                    return list(chosen)
    return list(chosen)


def correlate(
    lookup: Lookup,
    candidates: Mapping[str, Candidate],
    *,
    key_incident: str | None,
    override: Override | None,
    topology: Topology,
    config: CorrelationConfig,
) -> Decision:
    """Decide for one admitted firing alert; ``candidates`` holds the picked incidents
    and the key's and the override's incidents, by id."""
    alert, feats = lookup.alert, lookup.features
    live = override if override is not None and override.live(alert.at) else None
    apart = frozenset(live.separate_from) if live else frozenset()
    open_ = [
        c
        for c in candidates.values()
        if c.incident.status in _OPEN
        and c.profile.scope == feats.scope
        and c.incident.id not in apart
    ]
    relations = _Relations(feats, alert.at, topology, config.propagation_window)
    chosen = (
        _by_key(live.incident_id if live else None, Rule.OVERRIDE, alert, candidates, config)
        or _by_key(
            None if key_incident in apart else key_incident, Rule.KEY, alert, candidates, config
        )
        or _by_topology(feats, alert, open_, relations, config)
        or _by_similarity(feats, alert, open_, config)
    )
    if chosen is None:
        return Decision(
            action=Action.OPEN,
            evidence=Evidence(Rule.NEW, key=alert.key),
            profile=new_profile(alert, feats, topology, config),
            slots=lookup.slots[: len(feats.entities)],
            claims_key=True,
        )
    merge = _bridged(feats, alert, chosen[0], open_, relations, topology, config)
    return _decided(lookup, chosen, topology, config, merge)


def by_key(
    lookup: Lookup, candidate: Candidate, topology: Topology, config: CorrelationConfig
) -> Decision | None:
    """The key rule alone, for an alert whose key's incident is live and which cannot tie
    other incidents to it: what ``correlate`` decides, without reading candidates."""
    incident_id = candidate.incident.id
    chosen = _by_key(incident_id, Rule.KEY, lookup.alert, {incident_id: candidate}, config)
    return None if chosen is None else _decided(lookup, chosen, topology, config, ())


def _decided(
    lookup: Lookup,
    chosen: Chosen,
    topology: Topology,
    config: CorrelationConfig,
    merge: tuple[str, ...],
) -> Decision:
    target, action, evidence = chosen
    feats = lookup.features
    profile = with_alert(target.profile, lookup.alert, feats, topology, config)
    slots = lookup.slots[: len(feats.entities)]
    if action is Action.REOPEN:  # its slots were cleared when it resolved
        slots = tuple(dict.fromkeys((*slots, *entity_slots(profile.scope, profile.entities))))
    return Decision(
        action=action,
        evidence=evidence,
        profile=profile,
        slots=slots,
        claims_key=evidence.rule is not Rule.KEY,
        merge=merge,
    )


_OPEN = frozenset(s for s in IncidentStatus if s.is_open)
Chosen = tuple[Candidate, Action, Evidence]


def key_is_live(
    key_incident: Incident | None,
    override: Override | None,
    pinned: Incident | None,
    at: float,
    config: CorrelationConfig,
) -> bool:
    """Does an alert of this key go straight to an incident (no admission needed)?"""
    if (
        override is not None
        and override.live(at)
        and pinned is not None
        and _key_rule(pinned, at, config)
    ):
        return True
    return key_incident is not None and _key_rule(key_incident, at, config)


def _key_rule(incident: Incident, at: float, config: CorrelationConfig) -> bool:
    return decide(incident, fired_at=at, reopen_window=config.reopen_window) is not KeyDecision.OPEN


def _by_key(
    incident_id: str | None,
    rule: Rule,
    alert: AlertFacts,
    candidates: Mapping[str, Candidate],
    config: CorrelationConfig,
) -> Chosen | None:
    """The key rule (``triage.correlate.decide``) on the incident a key or an override
    points at: join it while open, reopen it within the reopen window."""
    candidate = candidates.get(incident_id) if incident_id else None
    if candidate is None:
        return None
    verdict = decide(candidate.incident, fired_at=alert.at, reopen_window=config.reopen_window)
    if verdict is KeyDecision.OPEN:
        return None
    action = Action.REOPEN if verdict is KeyDecision.REOPEN else Action.JOIN
    return candidate, action, Evidence(rule, candidate.incident.id, alert.key)


Related = tuple[int, float, Relation, tuple[str, ...]]
"""hops, seconds between the alert and the related service's first symptom, how, path"""


def _relation(
    feats: Features, at: float, profile: IncidentProfile, topology: Topology, window: float
) -> Related | None:
    """The nearest way the alert's service relates to the incident (fewest hops, then
    the most recent symptom: a fresh failure next door is the likelier cause).

    Only an alert that could fail callers (``may_cause``: a symptom, or severe enough)
    relates. It relates to a service it depends on that began to fail its own callers
    (``cause_at``) within ``window`` of ``at``: a victim of the same cause; and to a
    root that depends on it whose symptoms began (``effect_at``) at most ``window``
    before ``at``: a deeper cause. Local alerts (a volume filling up) relate to nothing.
    """
    service = feats.service
    if service is None:
        return None
    if service in profile.services:
        return 0, 0.0, Relation.SAME, (service,)
    if not feats.may_cause:
        return None
    found: list[Related] = []
    causes = topology.dependencies(service)
    for failing, hops in _common(causes.distance, profile.services):
        since = profile.services[failing].cause_at
        if since is not None and abs(at - since) <= window:
            found.append((hops, abs(at - since), Relation.VICTIM, causes.path_to(failing)))
    victims = topology.dependants(service)
    for root in _explained_roots(profile, victims.distance, at, window):
        gap = abs(at - (profile.services[root].effect_at or at))
        found.append((victims.distance[root], gap, Relation.CAUSE, victims.path_to(root)))
    return min(found, key=lambda r: (r[0], r[1])) if found else None


def _explained_roots(
    profile: IncidentProfile, victims: Mapping[str, int], at: float, window: float
) -> list[str]:
    """The incident's roots a failure of the alert's service would explain: they depend
    on it and their symptoms started at most ``window`` before ``at``."""
    explained = []
    for root in profile.roots:
        since = profile.services[root].effect_at
        if root in victims and since is not None and at - since <= window:
            explained.append(root)
    return explained


def _common(reach: Mapping[str, int], failing: Mapping[str, object]) -> list[tuple[str, int]]:
    """Failing services within reach, walking the smaller of the two mappings."""
    if len(reach) <= len(failing):
        return [(s, hops) for s, hops in reach.items() if s in failing]
    return [(s, reach[s]) for s in failing if s in reach]


def _recent(profile: IncidentProfile, at: float, window: float) -> bool:
    return at - profile.last_at <= window


class _Relations:
    """Each candidate's relation to the alert (``_relation``), computed once per decision:
    the topology rule and the bridging check both need it."""

    def __init__(self, feats: Features, at: float, topology: Topology, window: float) -> None:
        self._args = (feats, at)
        self._topology = topology
        self._window = window
        self._found: dict[str, Related | None] = {}

    def of(self, candidate: Candidate) -> Related | None:
        incident_id = candidate.incident.id
        if incident_id not in self._found:
            feats, at = self._args
            self._found[incident_id] = _relation(
                feats, at, candidate.profile, self._topology, self._window
            )
        return self._found[incident_id]


def _by_topology(
    feats: Features,
    alert: AlertFacts,
    open_: Sequence[Candidate],
    relations: _Relations,
    config: CorrelationConfig,
) -> Chosen | None:
    if not feats.may_cause:
        return None
    best: tuple[tuple[int, float, float, str], Candidate, Evidence] | None = None
    for candidate in open_:
        profile = candidate.profile
        if not _recent(profile, alert.at, config.topology_window):
            continue
        found = relations.of(candidate)
        if found is None:
            continue
        hops, gap, relation, path = found
        rank = (hops, gap, profile.opened_at, candidate.incident.id)
        if best is None or rank < best[0]:
            evidence = Evidence(Rule.TOPOLOGY, candidate.incident.id, alert.key, relation, path)
            best = (rank, candidate, evidence)
    return None if best is None else (best[1], Action.JOIN, best[2])


def similarity(
    feats: Features, profile: IncidentProfile, config: CorrelationConfig
) -> tuple[float, dict[str, float]]:
    """Score of the alert against the incident, with its parts.

    ``entities`` is 1 when the alert names a failing service of the incident (or the
    incident's alerts name the alert's service), else the share of the alert's
    components the incident names; ``text`` and ``labels`` are the best Jaccard indexes
    against the incident's exemplar alerts.
    """
    weights = config.weights
    entities = _entity_overlap(feats, profile)
    text = labels = 0.0
    best = -1.0
    for exemplar in profile.exemplars:
        t = jaccard(feats.tokens, exemplar.tokens)
        lab = jaccard(feats.label_pairs, exemplar.label_pairs)
        mixed = weights.text * t + weights.labels * lab
        if mixed > best:
            best, text, labels = mixed, t, lab
    score = weights.entities * entities + max(best, 0.0)
    return score, {
        "entities": round(entities, 3),
        "text": round(text, 3),
        "labels": round(labels, 3),
    }


def _entity_overlap(feats: Features, profile: IncidentProfile) -> float:
    if not feats.entities:
        return 0.0
    own = (feats.service or "").lower()
    failing = {s.lower() for s in profile.services}
    if feats.entities & failing - {own}:
        return 1.0  # it names (calls) a failing service of the incident
    if own and own not in failing and own in profile.entities:
        return 1.0  # the incident's alerts name (call) the alert's service
    return len(feats.entities & profile.entities) / len(feats.entities)


def _by_similarity(
    feats: Features, alert: AlertFacts, open_: Sequence[Candidate], config: CorrelationConfig
) -> Chosen | None:
    best: tuple[tuple[float, float, str], Candidate, Evidence] | None = None
    for candidate in open_:
        profile = candidate.profile
        if not _recent(profile, alert.at, config.similarity_window):
            continue
        if not feats.entities & profile.entities:
            continue  # similarity needs a shared component name (see ``similarity``)
        score, parts = similarity(feats, profile, config)
        if score < config.similarity_threshold:
            continue
        rank = (-score, profile.opened_at, candidate.incident.id)
        if best is None or rank < best[0]:
            evidence = Evidence(
                Rule.SIMILARITY,
                candidate.incident.id,
                alert.key,
                score=round(score, 3),
                parts=parts,
            )
            best = (rank, candidate, evidence)
    return None if best is None else (best[1], Action.JOIN, best[2])


def _bridged(
    feats: Features,
    alert: AlertFacts,
    target: Candidate,
    open_: Sequence[Candidate],
    relations: _Relations,
    topology: Topology,
    config: CorrelationConfig,
) -> tuple[str, ...]:
    """Other open incidents the alert ties to its target, to merge into it.

    Incidents whose roots depend on the alert's service: it is their common (or deeper)
    cause. And when the alert explains an incident (the target or one of those) while its
    service depends on a failing service of yet another, the two are links of one chain
    (``db -> orders -> checkout`` seen as ``db`` and ``checkout`` first): the nearest such
    incident is merged too. An opening alert bridges nothing: had an open incident's root
    depended on its service, the topology rule would have joined that incident.
    """
    if not config.auto_merge or feats.service is None or not feats.may_cause:
        return ()
    window = config.propagation_window
    victims = topology.dependants(feats.service).distance
    target_id = target.incident.id
    others = [
        c
        for c in open_
        if c.incident.id != target_id
        and c.incident.id not in target.profile.kept_apart
        and target_id not in c.profile.kept_apart
        and _recent(c.profile, alert.at, config.topology_window)
    ]
    explained = [
        c.incident.id for c in others if _explained_roots(c.profile, victims, alert.at, window)
    ]
    if explained or _explained_roots(target.profile, victims, alert.at, window):
        links = [
            (found[0], found[1], c.profile.opened_at, c.incident.id)
            for c in others
            if c.incident.id not in explained
            and (found := relations.of(c)) is not None
            and found[2] is Relation.VICTIM
        ]
        if links:
            explained.append(min(links)[3])
    return tuple(sorted(explained))
