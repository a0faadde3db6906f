"""The service dependency graph and its bounded-depth reachability queries.

A failure travels from a service to the services that call it: when ``orders-db`` is down,
``orders`` (which depends on it) fails, then ``checkout`` (which depends on ``orders``).
Correlation therefore asks two questions of the graph, both bounded in depth so that one
query costs the same however large the graph is: what does a service depend on
(``dependencies``, its possible causes) and what depends on it (``dependants``, its
possible victims). Answers are computed once per service of the graph and kept, since the
graph is immutable and queried for every alert; a service the graph does not name has
an empty answer, made on the spot, so alerts of unknown services do not grow the memo.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

import msgspec

from triage.correlation.config import CorrelationConfig


class ServiceDocument(msgspec.Struct, frozen=True):
    depends_on: list[str] = []


class TopologyDocument(msgspec.Struct, frozen=True):
    """``{"services": {"<name>": {"depends_on": ["<name>", ...]}}}``, as PUT to
    ``/api/v1/topology`` and as in the configuration file."""

    services: dict[str, ServiceDocument] = {}


class Reach(msgspec.Struct, frozen=True):
    """Services reachable from ``origin`` within the depth bound, nearest first.

    ``distance`` maps each reached service to its number of hops; ``via`` maps it to the
    previous service on one shortest path, so a path can be spelt out for the trace.
    """

    origin: str
    distance: dict[str, int]
    via: dict[str, str]

    def path_to(self, service: str) -> tuple[str, ...]:
        """``origin, ..., service`` along a shortest path (``()`` when not reached)."""
        if service not in self.distance:
            return ()
        hops = [service]
        while hops[-1] != self.origin:
            hops.append(self.via[hops[-1]])
        return tuple(reversed(hops))


class Topology:
    """Immutable dependency graph with memoised bounded breadth-first queries.

    Unknown services (an alert's ``service`` label the graph does not name) have no
    dependencies and no dependants, which makes every topology rule a no-op for them.
    """

    def __init__(
        self, depends_on: Mapping[str, Iterable[str]], *, max_depth: int, max_reach: int
    ) -> None:
        self.max_depth = max_depth
        self.max_reach = max_reach
        self._down: dict[str, tuple[str, ...]] = {
            name: tuple(dict.fromkeys(d for d in deps if d != name))
            for name, deps in depends_on.items()
        }
        up: dict[str, list[str]] = {}
        for name, deps in self._down.items():
            for dependency in deps:
                up.setdefault(dependency, []).append(name)
        self._up = {name: tuple(callers) for name, callers in up.items()}
        self._dependencies: dict[str, Reach] = {}
        self._dependants: dict[str, Reach] = {}
        self._neighbours: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_document(
        cls, document: TopologyDocument | Mapping[str, object], *, max_depth: int, max_reach: int
    ) -> Topology:
        doc = (
            document
            if isinstance(document, TopologyDocument)
            else msgspec.convert(document, TopologyDocument)
        )
        return cls(
            {name: service.depends_on for name, service in doc.services.items()},
            max_depth=max_depth,
            max_reach=max_reach,
        )

    @classmethod
    def configured(
        cls, document: TopologyDocument | Mapping[str, object], config: CorrelationConfig
    ) -> Topology:
        """The graph with the depth and reach bounds of ``config``."""
        return cls.from_document(document, max_depth=config.max_depth, max_reach=config.max_reach)

    @classmethod
    def empty(cls) -> Topology:
        return cls({}, max_depth=0, max_reach=1)

    def __len__(self) -> int:
        return len(self._down.keys() | self._up.keys())

    def __contains__(self, service: object) -> bool:
        return service in self._down or service in self._up

    def dependencies(self, service: str) -> Reach:
        """What ``service`` depends on, directly or transitively (its possible causes)."""
        found = self._dependencies.get(service)
        if found is None and service not in self:
            return Reach(origin=service, distance={}, via={})  # not kept: names are many
        if found is None:
            found = self._dependencies[service] = self._walk(service, self._down)
        return found

    def dependants(self, service: str) -> Reach:
        """What depends on ``service``, directly or transitively (its possible victims)."""
        found = self._dependants.get(service)
        if found is None and service not in self:
            return Reach(origin=service, distance={}, via={})
        if found is None:
            found = self._dependants[service] = self._walk(service, self._up)
        return found

    def neighbours(self, service: str) -> tuple[str, ...]:
        """Dependencies and dependants together, nearest first (then by name)."""
        found = self._neighbours.get(service)
        if found is None and service not in self:
            return ()
        if found is None:
            down = self.dependencies(service).distance
            up = self.dependants(service).distance
            hops = {
                s: min(down.get(s, self.max_depth), up.get(s, self.max_depth)) for s in down | up
            }
            found = self._neighbours[service] = tuple(sorted(hops, key=lambda s: (hops[s], s)))
        return found

    def depends(self, service: str, on: str) -> bool:
        """Does ``service`` depend on ``on`` within the depth bound?"""
        return on in self.dependencies(service).distance

    def _walk(self, origin: str, edges: Mapping[str, tuple[str, ...]]) -> Reach:
        """Breadth-first from ``origin`` to ``max_depth`` hops, at most ``max_reach``
        services (nearest kept), so a hub's answer stays bounded."""
        distance: dict[str, int] = {}
        via: dict[str, str] = {}
        queue = deque([(origin, 0)])
        seen = {origin}
        while queue and len(distance) < self.max_reach:
            here, depth = queue.popleft()
            if depth == self.max_depth:
                continue
            for following in edges.get(here, ()):
                if following in seen:
                    continue
                seen.add(following)
                distance[following] = depth + 1
                via[following] = here
                if len(distance) == self.max_reach:
                    break
                queue.append((following, depth + 1))
        return Reach(origin=origin, distance=distance, via=via)
