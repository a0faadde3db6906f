"""The routing tree: which resolver group(s) an incident goes to, and why.

Routes form a tree compiled from validated configuration (``routing.config``). Matching
starts at the root, which matches everything, and descends:

- children are tried in order; a child applies when all its matchers match and its time
  conditions hold (``during`` at least one listed period, ``outside`` all of them);
- the first child that applies is descended into and its siblings are skipped, unless it has
  ``continue`` set, in which case the next siblings are tried as well (fan-out);
- a route none of whose children apply decides itself: its target is one result.

So the deepest applying route wins, and ``continue`` is the only way to get more than one
result. Settings are inherited down the tree at compile time, so each compiled route carries
its effective target. When only the root applied, no rule decided: a model suggestion with
enough confidence for a known group is taken, otherwise the root's catch-all target (the
triage queue) is. The trace records every route that applied, the routes whose matchers
matched but whose time conditions did not hold, and what became of the model's suggestion.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import msgspec

from routing.groups import ResolverGroup
from routing.matchers import Matcher, Subject, matches_all
from routing.timeconditions import TimePeriod, any_contains

MODEL_ROUTE_KEY = "model"
"""The route key of decisions taken from the model's suggestion, for logs and metrics."""


class RouteTarget(msgspec.Struct, frozen=True, kw_only=True):
    route_key: str
    group: str
    escalation_policy: str | None
    channels: tuple[str, ...]


class RouteVerdict(enum.StrEnum):
    APPLIES = "applies"
    NO_MATCH = "no_match"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class Route:
    key: str
    matchers: tuple[Matcher, ...]
    during: tuple[TimePeriod, ...]
    outside: tuple[TimePeriod, ...]
    continue_matching: bool
    target: RouteTarget
    children: tuple[Route, ...]

    def verdict(self, subject: Subject, now: float) -> RouteVerdict:
        if not matches_all(self.matchers, subject):
            return RouteVerdict.NO_MATCH
        if (self.during and not any_contains(self.during, now)) or any_contains(self.outside, now):
            return RouteVerdict.INACTIVE
        return RouteVerdict.APPLIES

    def keys(self) -> Iterator[str]:
        yield self.key
        for child in self.children:
            yield from child.keys()


class DecidedBy(enum.StrEnum):
    RULE = "rule"
    MODEL = "model"
    DEFAULT = "default"


class SuggestionVerdict(enum.StrEnum):
    ABSENT = "absent"
    NOT_NEEDED = "not_needed"
    ACCEPTED = "accepted"
    LOW_CONFIDENCE = "low_confidence"
    UNKNOWN_GROUP = "unknown_group"


class ModelSuggestion(msgspec.Struct, frozen=True, kw_only=True):
    group: str
    confidence: float
    model_version: str


class RouteTrace(msgspec.Struct, frozen=True, kw_only=True):
    matched: tuple[str, ...]
    inactive: tuple[str, ...]
    decided_by: DecidedBy
    suggestion: ModelSuggestion | None
    suggestion_verdict: SuggestionVerdict


class RoutingDecision(msgspec.Struct, frozen=True, kw_only=True):
    """Targets in tree order; the first one's group becomes the incident's group."""

    targets: tuple[RouteTarget, ...]
    trace: RouteTrace

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(target.group for target in self.targets))


@dataclass(frozen=True, slots=True)
class RouteTree:
    root: Route
    groups: Mapping[str, ResolverGroup]
    min_model_confidence: float

    @property
    def route_keys(self) -> tuple[str, ...]:
        """Every route key, root first, for pre-registering per-route metrics."""
        return (*self.root.keys(), MODEL_ROUTE_KEY)

    def route(
        self, subject: Subject, now: float, suggestion: ModelSuggestion | None = None
    ) -> RoutingDecision:
        matched: list[str] = [self.root.key]
        inactive: list[str] = []
        targets = _descend(self.root, subject, now, matched, inactive)
        if len(matched) > 1:
            decided_by = DecidedBy.RULE
            verdict = (
                SuggestionVerdict.ABSENT if suggestion is None else SuggestionVerdict.NOT_NEEDED
            )
        else:
            verdict = self._judge(suggestion)
            decided_by = DecidedBy.DEFAULT
            if suggestion is not None and verdict is SuggestionVerdict.ACCEPTED:
                decided_by = DecidedBy.MODEL
                targets = [self._model_target(self.groups[suggestion.group])]
        trace = RouteTrace(
            matched=tuple(matched),
            inactive=tuple(inactive),
            decided_by=decided_by,
            suggestion=suggestion,
            suggestion_verdict=verdict,
        )
        return RoutingDecision(targets=tuple(targets), trace=trace)

    def _judge(self, suggestion: ModelSuggestion | None) -> SuggestionVerdict:
        if suggestion is None:
            return SuggestionVerdict.ABSENT
        if suggestion.group not in self.groups:
            return SuggestionVerdict.UNKNOWN_GROUP
        if suggestion.confidence < self.min_model_confidence:
            return SuggestionVerdict.LOW_CONFIDENCE
        return SuggestionVerdict.ACCEPTED

    @staticmethod
    def _model_target(group: ResolverGroup) -> RouteTarget:
        return RouteTarget(
            route_key=MODEL_ROUTE_KEY,
            group=group.name,
            escalation_policy=group.escalation_policy,
            channels=group.channels,
        )


def _descend(
    route: Route, subject: Subject, now: float, matched: list[str], inactive: list[str]
) -> list[RouteTarget]:
    found: list[RouteTarget] = []
    for child in route.children:
        verdict = child.verdict(subject, now)
        if verdict is RouteVerdict.INACTIVE:
            inactive.append(child.key)
        if verdict is not RouteVerdict.APPLIES:
            continue
        matched.append(child.key)
        found += _descend(child, subject, now, matched, inactive)
        if not child.continue_matching:
            break
    return found or [route.target]
