"""The service topology document: its schema, its checks, and how it becomes a graph.

One schema for both ways in: ``PUT /api/v1/topology`` (``daemon.topology_api``) and the
configuration (``correlation.topology`` inline, or ``correlation.topology_file``, a YAML
or JSON file next to ``triaged.yaml``). ``problems`` names every dependency on an unknown
service and every self-dependency by its path, so both the API and ``triaged config
check`` can say which line is wrong.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from daemon.validation import FieldError, dotted
from triage.correlation import CorrelationConfig, Topology

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class ServiceDocument(msgspec.Struct, forbid_unknown_fields=True):
    depends_on: Annotated[list[Name], msgspec.Meta(max_length=1000)] = []


class TopologyDocument(msgspec.Struct, forbid_unknown_fields=True):
    """``{"services": {"<name>": {"depends_on": ["<name>", ...]}}}``"""

    services: Annotated[dict[Name, ServiceDocument], msgspec.Meta(max_length=100000)]


def problems(document: TopologyDocument, at: tuple[str | int, ...] = ()) -> list[FieldError]:
    """Dependencies on unknown services and on the service itself, by path."""
    errors: list[FieldError] = []
    for name, service in document.services.items():
        for index, dependency in enumerate(service.depends_on):
            path = (*at, "services", name, "depends_on", index)
            where = dotted(path)
            if dependency == name:
                errors.append(FieldError(where, "a service cannot depend on itself", path))
            elif dependency not in document.services:
                errors.append(FieldError(where, f"unknown service {dependency!r}", path))
    return errors


def compile_topology(document: TopologyDocument | None, config: CorrelationConfig) -> Topology:
    """The graph correlation queries, bounded by ``max_depth`` and ``max_reach``."""
    if document is None:
        return Topology.empty()
    return Topology(
        {name: service.depends_on for name, service in document.services.items()},
        max_depth=config.max_depth,
        max_reach=config.max_reach,
    )
