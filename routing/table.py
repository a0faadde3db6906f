"""The compiled routing configuration: everything the pipeline and scheduler consult.

A table is immutable and built only by ``routing.config.compile_routing``, which validates
every cross-reference first. Hot reload therefore swaps one table for another atomically,
and a configuration that fails to compile never replaces the one in service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from routing.escalation import EscalationPolicy
from routing.groups import ResolverGroup
from routing.silences import InhibitRule, Silence
from routing.tree import RouteTree


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """``silences`` holds the silences and maintenance windows written in configuration;
    those created through the API are compiled one by one with ``compile_silence``."""

    tree: RouteTree
    groups: Mapping[str, ResolverGroup]
    policies: Mapping[str, EscalationPolicy]
    inhibit_rules: tuple[InhibitRule, ...]
    silences: tuple[Silence, ...]
