"""The routing configuration: strict schemas, and compilation into a ``RoutingTable``.

Validation happens in two passes, both at load time so nothing fails while routing:

1. ``parse_routing_config`` checks shape and types with msgspec; unknown keys are errors
   (a misspelt ``contnue`` must not silently disable fan-out).
2. ``compile_routing`` parses the strings inside (matchers, durations, times, targets) and
   checks every cross-reference: a route naming a missing group, policy or time period is an
   error. It reports all problems at once, each with the path of the offending field as a
   tuple of keys and list indexes (also for msgspec's errors), so the caller can look the
   path up in the YAML node tree and point at the file line.

Named things (groups, policies, time periods) are lists of objects with a ``name`` rather
than mappings, because a list index keeps every error path precise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, TypeVar

import msgspec

from routing.durations import parse_duration
from routing.escalation import (
    EscalationLevel,
    EscalationPolicy,
    TargetKind,
    parse_target,
)
from routing.groups import Handoff, Override, ResolverGroup, Rotation
from routing.matchers import Matcher, Subject, parse_matcher
from routing.silences import InhibitRule, Silence, SuppressionKind
from routing.table import RoutingTable
from routing.timeconditions import (
    TimePeriod,
    load_zone,
    parse_clock,
    parse_time_range,
    parse_weekdays,
)
from routing.tree import Route, RouteTarget, RouteTree

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")]
Text = Annotated[str, msgspec.Meta(min_length=1)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Base of every schema: unknown keys are errors. (Subclasses repeat ``frozen=True``
    only because type checkers do not see it inherited.)"""


class TimePeriodConfig(_Section, frozen=True):
    name: Name
    time_zone: str
    weekdays: list[str] = []
    times: list[str] = []
    holidays: list[date] = []


class OnCallConfig(_Section, frozen=True):
    members: Annotated[list[Text], msgspec.Meta(min_length=1)]
    handoff: Handoff
    handoff_time: str
    start: date
    time_zone: str


class OverrideConfig(_Section, frozen=True):
    person: Text
    start: AwareDatetime
    end: AwareDatetime


class GroupConfig(_Section, frozen=True):
    name: Name
    channels: list[Text] = []
    escalation_policy: str | None = None
    on_call: OnCallConfig | None = None
    overrides: list[OverrideConfig] = []


class LevelConfig(_Section, frozen=True):
    timeout: str
    targets: Annotated[list[str], msgspec.Meta(min_length=1)]


class PolicyConfig(_Section, frozen=True):
    name: Name
    levels: Annotated[list[LevelConfig], msgspec.Meta(min_length=1)]
    repeat: Annotated[int, msgspec.Meta(ge=0)] = 0
    unresolved_after: str | None = None


class RouteConfig(_Section, frozen=True):
    name: Name | None = None
    matchers: list[str] = []
    during: list[str] = []
    outside: list[str] = []
    group: str | None = None
    escalation_policy: str | None = None
    channels: list[Text] | None = None
    continue_matching: bool = msgspec.field(name="continue", default=False)
    routes: list[RouteConfig] = []


class InhibitRuleConfig(_Section, frozen=True):
    name: Name
    source_matchers: Annotated[list[str], msgspec.Meta(min_length=1)]
    target_matchers: Annotated[list[str], msgspec.Meta(min_length=1)]
    equal: list[str] = []


class SilenceConfig(_Section, frozen=True):
    """A silence or maintenance window; also the body of the silences API."""

    id: Text
    matchers: list[str]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    created_by: Text
    comment: Text


class ModelFallbackConfig(_Section, frozen=True):
    min_confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.7


class RoutingConfig(_Section, frozen=True):
    route: RouteConfig
    groups: list[GroupConfig]
    escalation_policies: list[PolicyConfig] = []
    time_periods: list[TimePeriodConfig] = []
    inhibit_rules: list[InhibitRuleConfig] = []
    silences: list[SilenceConfig] = []
    maintenance_windows: list[SilenceConfig] = []
    model_fallback: ModelFallbackConfig = msgspec.field(default_factory=ModelFallbackConfig)


FieldPath = tuple[str | int, ...]


def dotted(path: FieldPath) -> str:
    """``route.routes[0].group`` for ``("route", "routes", 0, "group")``."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
    return text.removeprefix(".") or "(document)"


class ConfigProblem(msgspec.Struct, frozen=True):
    path: FieldPath
    message: str

    def __str__(self) -> str:
        return f"{dotted(self.path)}: {self.message}"


class RoutingConfigError(ValueError):
    """One or more configuration problems, each naming the field it is about."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def parse_routing_config(data: object) -> RoutingConfig:
    """Check the shape of ``data`` (decoded YAML or JSON) against the schema."""
    return _convert(data, RoutingConfig)


def load_routing(data: object, *, channels: Collection[str] | None = None) -> RoutingTable:
    """Parse and compile in one step; what config check, startup and reload call."""
    return compile_routing(parse_routing_config(data), channels=channels)


def compile_silence(data: object, kind: SuppressionKind, path: FieldPath = ()) -> Silence:
    """Validate and compile one silence or maintenance window, e.g. from the API."""
    problems = _Problems()
    silence = _silence(_convert(data, SilenceConfig), kind, path, problems)
    problems.raise_any()
    return silence


def compile_routing(cfg: RoutingConfig, *, channels: Collection[str] | None = None) -> RoutingTable:
    """Compile a parsed configuration, checking every reference.

    ``channels`` are the notification channel names the daemon knows; when given, groups
    and routes naming any other channel are errors.
    """
    problems = _Problems()
    refs = _References(
        groups=_names(cfg.groups, ("groups",), "group", problems),
        policies=_names(cfg.escalation_policies, ("escalation_policies",), "policy", problems),
        periods=_names(cfg.time_periods, ("time_periods",), "time period", problems),
        channels=channels,
        problems=problems,
    )
    periods = {
        spec.name: period
        for i, spec in enumerate(cfg.time_periods)
        if (period := _period(spec, ("time_periods", i), problems)) is not None
    }
    policies = {
        spec.name: policy
        for i, spec in enumerate(cfg.escalation_policies)
        if (policy := _policy(spec, ("escalation_policies", i), refs)) is not None
    }
    groups = {spec.name: _group(spec, ("groups", i), refs) for i, spec in enumerate(cfg.groups)}
    root = _root(cfg.route, groups, periods, refs)
    inhibit_rules = tuple(
        _inhibit_rule(spec, ("inhibit_rules", i), problems)
        for i, spec in enumerate(cfg.inhibit_rules)
    )
    silences = tuple(
        _silence(spec, kind, (section, i), problems)
        for section, specs, kind in (
            ("silences", cfg.silences, SuppressionKind.SILENCE),
            ("maintenance_windows", cfg.maintenance_windows, SuppressionKind.MAINTENANCE),
        )
        for i, spec in enumerate(specs)
    )
    problems.raise_any()
    tree = RouteTree(root, groups, cfg.model_fallback.min_confidence)
    return RoutingTable(tree, groups, policies, inhibit_rules, silences)


_T = TypeVar("_T")


class _Problems:
    """Collects problems so one run reports all of them."""

    def __init__(self) -> None:
        self.found: list[ConfigProblem] = []

    def add(self, path: FieldPath, message: str) -> None:
        self.found.append(ConfigProblem(path, message))

    def parse(self, path: FieldPath, parser: Callable[[str], _T], text: str) -> _T | None:
        try:
            return parser(text)
        except ValueError as error:
            self.add(path, str(error))
            return None

    def parse_each(
        self, path: FieldPath, parser: Callable[[str], _T], texts: Sequence[str]
    ) -> tuple[_T, ...] | None:
        """All parsed values, or None if any failed (each failure recorded at its index)."""
        parsed = [self.parse((*path, i), parser, text) for i, text in enumerate(texts)]
        return tuple(value for value in parsed if value is not None) if None not in parsed else None

    def raise_any(self) -> None:
        if self.found:
            raise RoutingConfigError(self.found)


@dataclass(frozen=True, slots=True)
class _References:
    """The names each kind of reference may point at."""

    groups: frozenset[str]
    policies: frozenset[str]
    periods: frozenset[str]
    channels: Collection[str] | None
    problems: _Problems

    def check(self, path: FieldPath, kind: str, name: str, known: Collection[str]) -> None:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            self.problems.add(path, f"unknown {kind} {name!r}; known: {listed}")

    def check_channels(self, path: FieldPath, names: Iterable[str]) -> None:
        if self.channels is not None:
            for i, name in enumerate(names):
                self.check((*path, i), "channel", name, self.channels)


def _convert(data: object, schema: type[_T]) -> _T:
    try:
        return msgspec.convert(data, schema)
    except msgspec.ValidationError as error:
        message, _, where = str(error).rpartition(" - at `")
        problem = (
            ConfigProblem(_parse_msgspec_path(where.rstrip("`")), message)
            if message
            else ConfigProblem((), where)
        )
        raise RoutingConfigError([problem]) from None


def _parse_msgspec_path(text: str) -> FieldPath:
    """``$.route.routes[0]`` as ``("route", "routes", 0)``; the schemas hold no mappings,
    so msgspec never writes its ``[...]`` placeholder for a mapping key here."""
    return tuple(
        int(index) if index else key
        for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", text.removeprefix("$"))
    )


def _names(
    specs: Sequence[GroupConfig | PolicyConfig | TimePeriodConfig],
    path: FieldPath,
    kind: str,
    problems: _Problems,
) -> frozenset[str]:
    first: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.name in first:
            earlier = dotted((*path, first[spec.name]))
            problems.add(
                (*path, i, "name"),
                f"duplicate {kind} name {spec.name!r}; first defined at {earlier}",
            )
        first.setdefault(spec.name, i)
    return frozenset(first)


def _period(spec: TimePeriodConfig, path: FieldPath, problems: _Problems) -> TimePeriod | None:
    zone = problems.parse((*path, "time_zone"), load_zone, spec.time_zone)
    weekdays = problems.parse_each((*path, "weekdays"), parse_weekdays, spec.weekdays)
    times = problems.parse_each((*path, "times"), parse_time_range, spec.times)
    if zone is None or weekdays is None or times is None:
        return None
    return TimePeriod(
        spec.name, zone, frozenset().union(*weekdays), times, frozenset(spec.holidays)
    )


def _policy(spec: PolicyConfig, path: FieldPath, refs: _References) -> EscalationPolicy | None:
    levels = [_level(level, (*path, "levels", i), refs) for i, level in enumerate(spec.levels)]
    unresolved_after = (
        None
        if spec.unresolved_after is None
        else refs.problems.parse((*path, "unresolved_after"), parse_duration, spec.unresolved_after)
    )
    complete = tuple(level for level in levels if level is not None)
    if len(complete) < len(levels) or (spec.unresolved_after and unresolved_after is None):
        return None
    return EscalationPolicy(spec.name, complete, spec.repeat, unresolved_after)


def _level(spec: LevelConfig, path: FieldPath, refs: _References) -> EscalationLevel | None:
    timeout = refs.problems.parse((*path, "timeout"), parse_duration, spec.timeout)
    targets = refs.problems.parse_each((*path, "targets"), parse_target, spec.targets)
    for i, target in enumerate(targets or ()):
        if target.kind is not TargetKind.PERSON and target.name is not None:
            refs.check((*path, "targets", i), "resolver group", target.name, refs.groups)
    if timeout is None or targets is None:
        return None
    return EscalationLevel(timeout, targets)


def _group(spec: GroupConfig, path: FieldPath, refs: _References) -> ResolverGroup:
    if spec.escalation_policy is not None:
        refs.check(
            (*path, "escalation_policy"), "escalation policy", spec.escalation_policy, refs.policies
        )
    refs.check_channels((*path, "channels"), spec.channels)
    rotation = None if spec.on_call is None else _rotation(spec.on_call, (*path, "on_call"), refs)
    overrides = tuple(
        _override(o, (*path, "overrides", i), refs) for i, o in enumerate(spec.overrides)
    )
    return ResolverGroup(
        name=spec.name,
        channels=tuple(spec.channels),
        escalation_policy=spec.escalation_policy,
        rotation=rotation,
        overrides=overrides,
    )


def _handoff_time(text: str) -> time:
    seconds = parse_clock(text)
    if seconds == 86400:
        raise ValueError(f"invalid hand-off time {text!r}: use 00:00 to hand off at midnight")
    return time(seconds // 3600, seconds % 3600 // 60)


def _rotation(spec: OnCallConfig, path: FieldPath, refs: _References) -> Rotation | None:
    zone = refs.problems.parse((*path, "time_zone"), load_zone, spec.time_zone)
    handoff_time = refs.problems.parse((*path, "handoff_time"), _handoff_time, spec.handoff_time)
    if zone is None or handoff_time is None:
        return None
    return Rotation(tuple(spec.members), spec.handoff, handoff_time, spec.start, zone)


def _override(spec: OverrideConfig, path: FieldPath, refs: _References) -> Override:
    starts_at, ends_at = spec.start.timestamp(), spec.end.timestamp()
    if ends_at <= starts_at:
        refs.problems.add((*path, "end"), "the end must be after the start")
    return Override(spec.person, starts_at, ends_at)


def _root(
    spec: RouteConfig,
    groups: Mapping[str, ResolverGroup],
    periods: Mapping[str, TimePeriod],
    refs: _References,
) -> Route:
    path: FieldPath = ("route",)
    for field, present in (
        ("matchers", spec.matchers),
        ("during", spec.during),
        ("outside", spec.outside),
        ("continue", spec.continue_matching),
    ):
        if present:
            refs.problems.add(
                (*path, field),
                "the root route is the catch-all: it matches every incident, so it takes no "
                "matchers, time conditions or continue",
            )
    if spec.group is None:
        refs.problems.add(
            (*path, "group"),
            "the root route needs a group: it takes every incident no other route takes "
            "(a triage queue)",
        )
    return _route(spec, path, spec.name or "root", None, _Compiler(groups, periods, refs))


@dataclass(frozen=True, slots=True)
class _Compiler:
    groups: Mapping[str, ResolverGroup]
    periods: Mapping[str, TimePeriod]
    refs: _References


def _route(
    spec: RouteConfig, path: FieldPath, key: str, parent: RouteTarget | None, ctx: _Compiler
) -> Route:
    problems = ctx.refs.problems
    target = _target(spec, path, key, parent, ctx)
    matchers = problems.parse_each((*path, "matchers"), parse_matcher, spec.matchers) or ()
    children: list[Route] = []
    seen: dict[str, int] = {}
    for i, child in enumerate(spec.routes):
        child_path: FieldPath = (*path, "routes", i)
        name = child.name or str(i)
        if name in seen:
            earlier = dotted((*path, "routes", seen[name]))
            problems.add(
                (*child_path, "name"),
                f"duplicate route name {name!r}; first used at {earlier}",
            )
        seen.setdefault(name, i)
        children.append(_route(child, child_path, f"{key}/{name}", target, ctx))
    return Route(
        key=key,
        matchers=matchers,
        during=_periods_of(spec.during, (*path, "during"), ctx),
        outside=_periods_of(spec.outside, (*path, "outside"), ctx),
        continue_matching=spec.continue_matching,
        target=target,
        children=tuple(children),
    )


def _target(
    spec: RouteConfig, path: FieldPath, key: str, parent: RouteTarget | None, ctx: _Compiler
) -> RouteTarget:
    """The route's effective target. A route that names a group takes that group's policy
    and channels unless it sets its own; a route that names no group inherits all three
    from its parent, so changing the group never keeps another team's escalation."""
    refs = ctx.refs
    if spec.group is not None:
        refs.check((*path, "group"), "resolver group", spec.group, refs.groups)
    if spec.escalation_policy is not None:
        refs.check(
            (*path, "escalation_policy"), "escalation policy", spec.escalation_policy, refs.policies
        )
    refs.check_channels((*path, "channels"), spec.channels or ())
    own = ctx.groups.get(spec.group) if spec.group is not None else None
    base = (
        RouteTarget(
            route_key=key,
            group=own.name,
            escalation_policy=own.escalation_policy,
            channels=own.channels,
        )
        if own is not None
        else parent or RouteTarget(route_key=key, group="", escalation_policy=None, channels=())
    )
    return RouteTarget(
        route_key=key,
        group=base.group,
        escalation_policy=spec.escalation_policy or base.escalation_policy,
        channels=base.channels if spec.channels is None else tuple(spec.channels),
    )


def _periods_of(names: Sequence[str], path: FieldPath, ctx: _Compiler) -> tuple[TimePeriod, ...]:
    for i, name in enumerate(names):
        ctx.refs.check((*path, i), "time period", name, ctx.refs.periods)
    return tuple(ctx.periods[name] for name in names if name in ctx.periods)


def _label_matchers(
    path: FieldPath, texts: Sequence[str], problems: _Problems
) -> tuple[Matcher, ...] | None:
    """Matchers for suppression, which runs before triage and so sees only labels."""
    matchers = problems.parse_each(path, parse_matcher, texts)
    for i, matcher in enumerate(matchers or ()):
        if not matcher.is_label:
            problems.add(
                (*path, i),
                f"{matcher.name} is an incident field, but suppression happens before triage "
                "and can only match labels",
            )
    return matchers


def _inhibit_rule(spec: InhibitRuleConfig, path: FieldPath, problems: _Problems) -> InhibitRule:
    return InhibitRule(
        name=spec.name,
        source=_label_matchers((*path, "source_matchers"), spec.source_matchers, problems) or (),
        target=_label_matchers((*path, "target_matchers"), spec.target_matchers, problems) or (),
        equal=tuple(spec.equal),
    )


def _silence(
    spec: SilenceConfig, kind: SuppressionKind, path: FieldPath, problems: _Problems
) -> Silence:
    matchers = _label_matchers((*path, "matchers"), spec.matchers, problems)
    if matchers is not None and all(matcher.matches(Subject(labels={})) for matcher in matchers):
        problems.add(
            (*path, "matchers"),
            "at least one matcher must not match an empty label value, "
            f"or the {kind.value} would mute every alert",
        )
    starts_at, ends_at = spec.starts_at.timestamp(), spec.ends_at.timestamp()
    if ends_at <= starts_at:
        problems.add((*path, "ends_at"), "the end must be after the start")
    return Silence(
        id=spec.id,
        kind=kind,
        matchers=matchers or (),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=spec.created_by,
        comment=spec.comment,
    )
