"""An incident's correlation profile: what later alerts are compared with.

The profile is the small, bounded summary of an incident that correlation needs, stored
by the shell next to the incident: which services are failing (with their first alert and
instances), which of them are suspected roots, which components the alerts name, and a
few exemplar alerts for similarity. Every bound is a config value, so a storm of ten
thousand alerts leaves a profile of the same size as one of a hundred.

Root cause follows the dependency graph: a failing service is a root when none of the
incident's other failing services is one of its dependencies, and the suspected root
is the root that explains most of the incident (most failing services depend on it).
That is "the deepest failing dependency": a database below three failing callers wins
over any of them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence

import msgspec

from triage.correlation.config import CorrelationConfig
from triage.correlation.features import AlertFacts, Features, features
from triage.correlation.topology import Topology


class Exemplar(msgspec.Struct, frozen=True):
    """One alert kept for similarity: the first of each (service, alertname)."""

    fingerprint: str
    service: str | None
    alertname: str
    at: float
    tokens: frozenset[str]
    label_pairs: frozenset[str]


class ServiceImpact(msgspec.Struct, frozen=True):
    """A failing service of the incident.

    ``cause_at`` is the time of its first alert that could fail its callers
    (``Features.may_cause``): from then on it explains their symptoms. ``effect_at`` is
    the time of its first symptom (``Features.propagates``): from then on a failing
    dependency explains it. A service with only local alerts has neither.
    """

    first_at: float
    first_fingerprint: str
    first_alertname: str
    alerts: int = 1
    cause_at: float | None = None
    effect_at: float | None = None


class Root(msgspec.Struct, frozen=True):
    """The suspected root cause: a service and the first alert it raised."""

    service: str
    fingerprint: str
    alertname: str
    at: float
    explains: int  # failing services of the incident that depend on it, itself included


class Impact(msgspec.Struct, frozen=True):
    """What an incident touches, for its record and its priority."""

    root: Root | None
    services: tuple[str, ...]
    service_count: int
    instance_count: int
    alert_count: int


class IncidentProfile(msgspec.Struct, frozen=True):
    """``incident_id`` is empty until the shell allocates the id of a new incident."""

    incident_id: str
    scope: str
    opened_at: float
    last_at: float
    keys: tuple[str, ...] = ()
    services: dict[str, ServiceImpact] = {}
    roots: tuple[str, ...] = ()
    root: Root | None = None
    entities: frozenset[str] = frozenset()
    exemplars: tuple[Exemplar, ...] = ()
    alerts: int = 0
    # Distinct instances as a linear-counting bitmap (one bit per hashed instance name):
    # fixed size however many pods fail, an estimate exact for small counts, and cheap
    # to decode on every batch, unlike a set of names.
    instance_bits: bytes = b""
    first_fingerprint: str = ""
    first_alertname: str = ""
    # Incidents an operator split from this one: never merged back automatically.
    kept_apart: frozenset[str] = frozenset()
    # ``last_at`` when the shell last recorded the incident in its index slots.
    indexed_at: float = 0.0

    def impact(self) -> Impact:
        return Impact(
            root=self.root,
            services=tuple(sorted(self.services)),
            service_count=len(self.services),
            instance_count=count_instances(self.instance_bits),
            alert_count=self.alerts,
        )


def new_profile(
    alert: AlertFacts, feats: Features, topology: Topology, config: CorrelationConfig
) -> IncidentProfile:
    """The profile of an incident opened by ``alert``."""
    empty = IncidentProfile(incident_id="", scope=feats.scope, opened_at=alert.at, last_at=alert.at)
    return with_alert(empty, alert, feats, topology, config)


def with_alert(
    profile: IncidentProfile,
    alert: AlertFacts,
    feats: Features,
    topology: Topology,
    config: CorrelationConfig,
) -> IncidentProfile:
    """``profile`` after ``alert`` joined it: services, roots, entities, exemplars."""
    service = feats.service
    services = profile.services
    roots = profile.roots
    added = False
    if service is not None:
        current = services.get(service)
        if current is None and len(services) < config.max_services:
            services = {**services, service: _first_on(alert, feats)}
            roots = _roots_after(roots, service, services, topology)
            added = True
        elif current is not None:
            counted = msgspec.structs.replace(
                current,
                alerts=current.alerts + 1,
                cause_at=_earliest(current.cause_at, alert.at if feats.may_cause else None),
                effect_at=_earliest(current.effect_at, alert.at if feats.propagates else None),
            )
            services = {**services, service: counted}
    instance_bits = _with_instance(profile.instance_bits, feats.instance, config.instance_bits)
    exemplars = profile.exemplars
    if len(exemplars) < config.max_exemplars and not any(
        e.service == service and e.alertname == feats.alertname for e in exemplars
    ):
        exemplars = (*exemplars, _exemplar(alert, feats))
    keys = profile.keys
    if alert.key not in keys and len(keys) < config.max_keys:
        keys = (*keys, alert.key)
    updated = msgspec.structs.replace(
        profile,
        last_at=max(profile.last_at, alert.at),
        opened_at=min(profile.opened_at, alert.at),
        keys=keys,
        services=services,
        roots=roots,
        entities=profile.entities
        if feats.entities <= profile.entities
        else profile.entities | feats.entities,
        exemplars=exemplars,
        alerts=profile.alerts + 1,
        instance_bits=instance_bits,
        first_fingerprint=profile.first_fingerprint or alert.fingerprint,
        first_alertname=profile.first_alertname or feats.alertname,
    )
    if not added:  # the root depends on which services fail, not on how often
        return updated
    return msgspec.structs.replace(updated, root=suspected_root(updated, topology))


def counted(
    profile: IncidentProfile,
    service: str,
    at: float,
    instance: str | None,
    config: CorrelationConfig,
) -> IncidentProfile:
    """``with_alert`` for an alert that brings nothing new but a count and perhaps an
    instance: a known service, a rule the profile has an exemplar of, no new component,
    a key the profile has, and no earlier than its service's first cause and symptom.
    The pipeline's common case (a fan-out of one rule over pods) at a fraction of the cost.
    """
    current = profile.services[service]
    return msgspec.structs.replace(
        profile,
        last_at=max(profile.last_at, at),
        opened_at=min(profile.opened_at, at),
        services={
            **profile.services,
            service: msgspec.structs.replace(current, alerts=current.alerts + 1),
        },
        alerts=profile.alerts + 1,
        instance_bits=_with_instance(profile.instance_bits, instance, config.instance_bits),
    )


def build_profile(
    incident_id: str,
    alerts: Sequence[AlertFacts],
    topology: Topology,
    config: CorrelationConfig,
) -> IncidentProfile:
    """A profile rebuilt from an incident's alerts (after a split), oldest first."""
    ordered = sorted(alerts, key=lambda a: (a.at, a.fingerprint))
    first = ordered[0]
    profile = new_profile(first, features(first, config), topology, config)
    for alert in ordered[1:]:
        profile = with_alert(profile, alert, features(alert, config), topology, config)
    return msgspec.structs.replace(profile, incident_id=incident_id)


def merged_profile(
    target: IncidentProfile,
    sources: Iterable[IncidentProfile],
    topology: Topology,
    config: CorrelationConfig,
) -> IncidentProfile:
    """``target`` with everything of ``sources`` folded in; roots are recomputed over
    the union, since a source's root may be a dependency of the target's."""
    merged = target
    for source in sources:
        services = dict(merged.services)
        for name, impact in source.services.items():
            mine = services.get(name)
            if mine is None:
                if len(services) < config.max_services:
                    services[name] = impact
            else:
                services[name] = _combined(mine, impact)
        instance_bits = _union(merged.instance_bits, source.instance_bits)
        merged = msgspec.structs.replace(
            merged,
            opened_at=min(merged.opened_at, source.opened_at),
            last_at=max(merged.last_at, source.last_at),
            keys=tuple(dict.fromkeys((*merged.keys, *source.keys)))[: config.max_keys],
            services=services,
            entities=merged.entities | source.entities,
            exemplars=(*merged.exemplars, *source.exemplars)[: config.max_exemplars],
            alerts=merged.alerts + source.alerts,
            instance_bits=instance_bits,
            kept_apart=merged.kept_apart | source.kept_apart,
        )
    roots = minimal_services(merged.services, topology)
    merged = msgspec.structs.replace(merged, roots=roots)
    return msgspec.structs.replace(merged, root=suspected_root(merged, topology))


def minimal_services(services: Iterable[str], topology: Topology) -> tuple[str, ...]:
    """Failing services none of whose dependencies (within the bound) is failing."""
    failing = set(services)
    return tuple(
        s
        for s in sorted(failing)
        if not any(d in failing for d in topology.dependencies(s).distance)
    )


def suspected_root(profile: IncidentProfile, topology: Topology) -> Root | None:
    """The root that explains most failing services; the earliest on a tie."""
    best: Root | None = None
    for service in profile.roots:
        impact = profile.services[service]
        victims = topology.dependants(service).distance
        explains = 1 + sum(1 for s in profile.services if s in victims)
        candidate = Root(
            service=service,
            fingerprint=impact.first_fingerprint,
            alertname=impact.first_alertname,
            at=impact.first_at,
            explains=explains,
        )
        if best is None or (explains, -candidate.at) > (best.explains, -best.at):
            best = candidate
    return best


def _roots_after(
    roots: tuple[str, ...], service: str, services: dict[str, ServiceImpact], topology: Topology
) -> tuple[str, ...]:
    """Roots once ``service`` (new to the incident) is failing: it replaces the roots
    that depend on it, and is a root itself unless it depends on a failing service."""
    kept = tuple(r for r in roots if not topology.depends(r, service))
    causes = topology.dependencies(service).distance
    if any(s in causes for s in services if s != service):
        return kept
    return (*kept, service)


def _first_on(alert: AlertFacts, feats: Features) -> ServiceImpact:
    return ServiceImpact(
        first_at=alert.at,
        first_fingerprint=alert.fingerprint,
        first_alertname=feats.alertname,
        cause_at=alert.at if feats.may_cause else None,
        effect_at=alert.at if feats.propagates else None,
    )


def _combined(a: ServiceImpact, b: ServiceImpact) -> ServiceImpact:
    first = a if (a.first_at, a.first_fingerprint) <= (b.first_at, b.first_fingerprint) else b
    return msgspec.structs.replace(
        first,
        alerts=a.alerts + b.alerts,
        cause_at=_earliest(a.cause_at, b.cause_at),
        effect_at=_earliest(a.effect_at, b.effect_at),
    )


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a, b)


def _with_instance(bits: bytes, instance: str | None, size: int) -> bytes:
    """``bits`` with the instance's bit set (a ``size``-bit map, allocated on first use)."""
    if not instance:
        return bits
    digest = hashlib.blake2b(instance.encode(), digest_size=4).digest()
    index = int.from_bytes(digest, "little") % size  # not CRC: it is linear, names cluster
    byte, mask = index >> 3, 1 << (index & 7)
    current = bits or bytes((size + 7) // 8)
    if current[byte] & mask:
        return current
    updated = bytearray(current)
    updated[byte] |= mask
    return bytes(updated)


def _union(a: bytes, b: bytes) -> bytes:
    if not a or not b or len(a) != len(b):
        return a or b
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(len(a), "little")


def count_instances(bits: bytes) -> int:
    """Linear counting: ``-m ln(zero bits / m)``, which corrects for hash collisions on
    average: with 1024 bits exact for a dozen instances, within one or two at a hundred,
    within a few percent up to a few thousand."""
    if not bits:
        return 0
    size = len(bits) * 8
    ones = int.from_bytes(bits, "little").bit_count()
    zeros = max(size - ones, 1)
    return round(-size * math.log(zeros / size))


def _exemplar(alert: AlertFacts, feats: Features) -> Exemplar:
    return Exemplar(
        fingerprint=alert.fingerprint,
        service=feats.service,
        alertname=feats.alertname,
        at=alert.at,
        tokens=feats.tokens,
        label_pairs=feats.label_pairs,
    )
