"""The correlation engine inside a pipeline batch: what ``triage.batch`` calls.

``Grouping`` is the working copy of the correlation state a batch read (profiles,
pending admission records, operator overrides, slot contents) and the writes the batch
makes to it. The fold asks it, for each firing alert that needs an incident, whether the
alert goes straight to correlation or through the admission gate, and what the engine
decides; it asks it again when an alert resolves (transient alerts) and when an
admission timer fires.

The shell cannot know before folding which slots and incidents the engine will want:
that depends on decisions made earlier in the batch. So the fold never fails on a value
it was not given. It records the read in ``Grouping.wanted``, decides as if the value
were absent, and goes on; the shell loads what was wanted and folds again (the outcome
of a fold that wanted anything is discarded). Slots depend only on the alert, and
candidates only on slot contents, so a batch normally needs one extra load for slots and
one for the incidents they name.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from triage.correlation.config import CorrelationConfig
from triage.correlation.engine import (
    Action,
    Candidate,
    Decision,
    Evidence,
    Lookup,
    Override,
    Rule,
    by_key,
    correlate,
    key_is_live,
    pick,
    plan,
)
from triage.correlation.features import AlertFacts, features
from triage.correlation.gate import Admission, Gate, Pending, on_due, on_firing, on_resolved
from triage.correlation.index import SlotIndex, entity_slots, slot
from triage.correlation.profile import IncidentProfile, counted
from triage.correlation.topology import Topology
from triage.incident import Incident

INDEX_REFRESH = 60.0
"""An incident's index entries are refreshed when its latest alert is this much newer
than at their last refresh (or a component is new to it): a slot entry may lag the
incident's last activity by up to a minute, and a storm of alerts joining by key does
not rewrite every slot on every batch."""


class Reads(msgspec.Struct):
    """What a fold wanted and was not given: slot -> earliest score wanted, incident ids,
    keys whose pending record is wanted, fingerprints whose state is wanted."""

    slots: dict[str, float] = {}
    incidents: set[str] = set()
    pending: set[str] = set()
    states: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.slots or self.incidents or self.pending or self.states)


class CorrelationSnapshot(msgspec.Struct):
    """The correlation state a batch read.

    ``slots`` holds, per slot read, its entries (incident id, score) newest first at or
    after ``slots_since[slot]``. ``looked_up`` and ``pending_read`` say which incidents
    and pending records were asked for, so an absent one is known to be absent.
    ``complete`` says the snapshot holds everything there is (a unit test's, or a
    simulator's): nothing absent is ever wanted.
    """

    profiles: dict[str, IncidentProfile] = {}
    pending: dict[str, Pending] = {}
    pending_read: set[str] = set()
    overrides: dict[str, Override] = {}
    slots: dict[str, list[tuple[str, float]]] = {}
    slots_since: dict[str, float] = {}
    looked_up: set[str] = set()
    complete: bool = False


class MergeRequest(msgspec.Struct, frozen=True):
    """Merge ``sources`` into ``target``: an alert tied them together (the shell merges
    after the batch committed, as an operator's merge is applied)."""

    target: str
    sources: tuple[str, ...]
    reason: str
    at: float


class CorrelationWrites(msgspec.Struct):
    """What a batch changes in the correlation state.

    ``slot_touch`` maps a slot to the incidents to record in it with their scores;
    ``slot_trim`` names slots that may have gained a member (trim them to the bound).
    A pending record or timer in ``*_set`` is written, one in ``*_clear`` deleted.
    """

    profiles: dict[str, IncidentProfile] = {}
    slot_touch: dict[str, dict[str, float]] = {}
    slot_trim: set[str] = set()
    slot_remove: dict[str, set[str]] = {}
    pending_set: dict[str, Pending] = {}
    pending_clear: set[str] = set()
    admission_set: dict[str, float] = {}
    admission_clear: set[str] = set()
    merges: list[MergeRequest] = []


class Grouping:
    """Working copy of a batch's correlation state; see the module docstring."""

    def __init__(
        self,
        snapshot: CorrelationSnapshot,
        incidents: Mapping[str, Incident],
        config: CorrelationConfig,
        topology: Topology,
    ) -> None:
        self.config = config
        self.topology = topology
        self.incidents = incidents  # the fold's working copy, shared with it
        self.snapshot = snapshot
        self.profiles = dict(snapshot.profiles)
        self.pending = dict(snapshot.pending)
        self.index = SlotIndex(config.slot_size)
        for name, entries in snapshot.slots.items():
            for incident_id, score in entries:
                self.index.touch((name,), incident_id, score)
        self.out = CorrelationWrites()
        self.wanted = Reads()
        self._entity_labels = frozenset(config.entity_labels)

    # --- reads ---------------------------------------------------------------------------

    def incident(self, incident_id: str | None) -> Incident | None:
        """The incident, or None; an id neither loaded nor looked up is wanted."""
        if not incident_id:
            return None
        found = self.incidents.get(incident_id)
        if found is None and not self._known_absent(incident_id):
            self.wanted.incidents.add(incident_id)
        return found

    def profile(self, incident: Incident) -> IncidentProfile:
        """The incident's profile; an incident from before correlation kept profiles
        gets an empty one (it joins by key; its next alerts fill it in)."""
        found = self.profiles.get(incident.id)
        if found is None:
            found = IncidentProfile(
                incident_id=incident.id,
                scope="",
                opened_at=incident.started_at,
                last_at=incident.updated_at,
                keys=(incident.key,),
            )
        return found

    def want_state(self, fingerprint: str) -> None:
        """A held alert's state was not loaded."""
        if not self.snapshot.complete:
            self.wanted.states.add(fingerprint)

    def _known_absent(self, incident_id: str) -> bool:
        return self.snapshot.complete or incident_id in self.snapshot.looked_up

    def _pending(self, key: str) -> Pending | None:
        if key not in self.snapshot.pending_read and not self.snapshot.complete:
            self.wanted.pending.add(key)
        return self.pending.get(key)

    # --- the gate ------------------------------------------------------------------------

    def is_live(self, facts: AlertFacts, key_incident: Incident | None) -> bool:
        """Does the alert skip admission (its key, or its override's, has a live incident)?"""
        override = self.snapshot.overrides.get(facts.key)
        pinned = None
        if override is not None and override.live(facts.at):
            pinned = self.incident(override.incident_id)
        return key_is_live(key_incident, override, pinned, facts.at, self.config)

    def admit_firing(self, key: str, fingerprint: str, at: float) -> Admission:
        thresholds = self.config.thresholds
        if thresholds.immediate:
            return Admission(Gate.ADMIT, (fingerprint,), reason="no thresholds")
        record, admission = on_firing(self._pending(key), key, fingerprint, at, thresholds)
        self._keep(key, record)
        return admission

    def resolved_unadmitted(self, key: str, fingerprint: str, at: float) -> Admission:
        """An alert without an incident resolved: transient if it was held."""
        if self.config.thresholds.immediate:
            return Admission(Gate.NONE)
        record, admission = on_resolved(self._pending(key), fingerprint, at, self.config.thresholds)
        if admission.verdict is Gate.TRANSIENT:
            self._keep(key, record)
        return admission

    def admit_due(self, key: str, at: float) -> Admission:
        record, admission = on_due(self._pending(key), at, self.config.thresholds)
        if admission.verdict is not Gate.NONE:
            self._keep(key, record)
        return admission

    def _keep(self, key: str, record: Pending | None) -> None:
        out = self.out
        due = record.due_at(self.config.thresholds) if record is not None else None
        if record is None:
            self.pending.pop(key, None)
            out.pending_set.pop(key, None)
            out.pending_clear.add(key)
        else:
            self.pending[key] = record
            out.pending_set[key] = record
            out.pending_clear.discard(key)
        if due is None:
            out.admission_set.pop(key, None)
            out.admission_clear.add(key)
        else:
            out.admission_set[key] = due
            out.admission_clear.discard(key)

    # --- deciding ------------------------------------------------------------------------

    def decide(self, facts: AlertFacts, key_incident: Incident | None) -> Decision:
        """The engine's decision for an admitted firing alert.

        An alert whose key's incident is live (and no operator pinned the key elsewhere)
        joins it without reading the index, unless it may tie other incidents to its own
        (``_may_bridge``): then, as for every other alert, the slots of its components
        and topology neighbours are read and candidates picked from them.
        """
        config = self.config
        override = self.snapshot.overrides.get(facts.key)
        pinned = override is not None and override.live(facts.at)
        if key_incident is not None and not pinned:
            profile = self.profile(key_incident)
            if key_incident.status.is_open and (repeat := self._repeat(facts, profile)):
                return repeat
            lookup = _own_lookup(facts, config, profile)
            if not self._may_bridge(lookup, profile):
                decided = by_key(lookup, Candidate(key_incident, profile), self.topology, config)
                if decided is not None:
                    return decided
        extra = [key_incident.id if key_incident else None]
        if override is not None and pinned:
            extra.append(override.incident_id)
        lookup = plan(facts, self.topology, config)
        found = {name: self._read(name, lookup.since) for name in lookup.slots}
        return self._correlate(lookup, pick(lookup, found, config), extra, key_incident, override)

    def _repeat(self, facts: AlertFacts, profile: IncidentProfile) -> Decision | None:
        """The key rule's decision for an alert like those its open incident has (see
        ``profile.counted``), or None when the alert may bring anything new."""
        labels = facts.labels
        config = self.config
        service = labels.get(config.service_label)
        known = profile.services.get(service) if service else None
        if service is None or known is None or facts.key not in profile.keys:
            return None
        if facts.at < max(known.cause_at or 0.0, known.effect_at or 0.0):
            return None
        if known.cause_at is None and service in self.topology:
            return None  # its name may make it the cause of others: the full way
        name = labels.get("alertname", "")
        if not any(e.service == service and e.alertname == name for e in profile.exemplars):
            return None
        replicas = [labels[n] for n in config.instance_labels if labels.get(n)]
        entities = profile.entities
        for label, value in labels.items():
            if (
                label in self._entity_labels
                and value
                and value not in replicas
                and (value.lower() not in entities)
            ):
                return None
        return Decision(
            action=Action.JOIN,
            evidence=Evidence(Rule.KEY, profile.incident_id, facts.key),
            profile=counted(profile, service, facts.at, replicas[0] if replicas else None, config),
            slots=(),  # its components are the incident's: ``applied`` refreshes them all
            claims_key=False,
        )

    def _read(self, name: str, since: float) -> list[str]:
        loaded = self.snapshot.slots_since.get(name)
        if (loaded is None or loaded > since) and not self.snapshot.complete:
            wanted = self.wanted.slots
            wanted[name] = min(since, wanted.get(name, since))
        return self.index.read(name, since)

    def _may_bridge(self, lookup: Lookup, profile: IncidentProfile) -> bool:
        """Could this alert, joining its key's incident, tie other incidents to it?
        Only a possible cause on a service others depend on, the first such alert of
        its service in the incident (later ones find the bridge already made)."""
        feats = lookup.features
        if not self.config.auto_merge or feats.service is None or not feats.may_cause:
            return False
        if (
            feats.service not in self.topology
            or not self.topology.dependants(feats.service).distance
        ):
            return False
        known = profile.services.get(feats.service)
        return known is None or known.cause_at is None

    def _correlate(
        self,
        lookup: Lookup,
        picked: list[str],
        extra: list[str | None],
        key_incident: Incident | None,
        override: Override | None,
    ) -> Decision:
        candidates: dict[str, Candidate] = {}
        for incident_id in dict.fromkeys([*picked, *(e for e in extra if e)]):
            incident = self.incident(incident_id)
            if incident is not None:
                candidates[incident_id] = Candidate(incident, self.profile(incident))
        return correlate(
            lookup,
            candidates,
            key_incident=key_incident.id if key_incident else None,
            override=override,
            topology=self.topology,
            config=self.config,
        )

    # --- applying ------------------------------------------------------------------------

    def applied(
        self, decision: Decision, incident_id: str, fingerprint: str, *, reopened: bool
    ) -> IncidentProfile:
        """Record the decision for ``incident_id`` (a new incident's id allocated):
        store the profile, touch the slots, queue the merge. Returns the profile."""
        profile = msgspec.structs.replace(decision.profile, incident_id=incident_id)
        before = self.profiles.get(incident_id)
        known = frozenset() if before is None or reopened else before.entities
        fresh = (
            ()
            if profile.entities is known
            else entity_slots(profile.scope, profile.entities - known)
        )
        stale = before is None or reopened or profile.last_at - before.indexed_at >= INDEX_REFRESH
        if stale or fresh:
            slots = decision.slots or entity_slots(profile.scope, profile.entities)
            self.touch(slots if stale else fresh, incident_id, profile.last_at, fresh)
            profile = msgspec.structs.replace(profile, indexed_at=profile.last_at)
        self.profiles[incident_id] = profile
        self.out.profiles[incident_id] = profile
        if decision.merge:
            self.out.merges.append(
                MergeRequest(
                    target=incident_id,
                    sources=decision.merge,
                    reason=f"alert {fingerprint} ties them together",
                    at=profile.last_at,
                )
            )
        return profile

    def touch(
        self, slots: tuple[str, ...], incident_id: str, at: float, fresh: tuple[str, ...] = ()
    ) -> None:
        self.index.touch(slots, incident_id, at)
        for name in slots:
            entries = self.out.slot_touch.setdefault(name, {})
            entries[incident_id] = max(at, entries.get(incident_id, at))
            removed = self.out.slot_remove.get(name)
            if removed is not None:
                removed.discard(incident_id)
        self.out.slot_trim.update(fresh)

    def left(self, incident: Incident) -> None:
        """The incident resolved: it leaves its slots (a reopen puts it back)."""
        profile = self.profiles.get(incident.id)
        if profile is None:
            return
        slots = entity_slots(profile.scope, profile.entities)
        self.index.remove(slots, incident.id)
        for name in slots:
            self.out.slot_remove.setdefault(name, set()).add(incident.id)
            touched = self.out.slot_touch.get(name)
            if touched is not None:
                touched.pop(incident.id, None)


def _own_lookup(facts: AlertFacts, config: CorrelationConfig, profile: IncidentProfile) -> Lookup:
    """A lookup that reads no slot: for an alert that joins its key's incident. Its words
    are only worked out when it will be the incident's exemplar of its kind, and its name
    only read for symptoms while they could still move its service's first cause or
    symptom: unknown, and no alert of its rule on its service was seen yet (whose name
    said what this one's says), or later than this alert."""
    name = facts.labels.get("alertname", "")
    service = facts.labels.get(config.service_label) or None
    exemplar = len(profile.exemplars) < config.max_exemplars and not any(
        e.service == service and e.alertname == name for e in profile.exemplars
    )
    known = profile.services.get(service) if service else None
    settled = (
        known is not None
        and (known.cause_at is not None or not exemplar)
        and (known.effect_at is not None or not exemplar)
        and facts.at >= max(known.cause_at or 0.0, known.effect_at or 0.0)
    )
    feats = features(facts, config, text=exemplar, name=not settled)
    own = (feats.service or "").lower()
    names = sorted(feats.entities, key=lambda e: (e != own, e))
    return Lookup(
        alert=facts,
        features=feats,
        slots=tuple(slot(feats.scope, name) for name in names),
        since=facts.at,
    )
