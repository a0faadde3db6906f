"""Seeded alert storms with ground truth.

A storm is a few *episodes* an hour apart; in each, several independent problems start
within minutes of each other, and every alert belongs to exactly one problem (the ground
truth). Problem kinds:

- ``cascade``: a component fails (a store, or an application) and the failure climbs the
  dependency graph to its callers, each level later and less likely than the one below;
  callers raise symptoms (error rates, latency, probes), and sidecar alerts name the
  upstream they cannot reach. The root's own alert is sometimes the last to fire.
- ``fanout``: a rollout leaves one service short of memory or threads and one or two
  runtime rules fire for most of its pods (sometimes after a scale-up); its callers
  are not affected.
- ``node``: a node fails; the node alert and the pods on it (of several services) fire.
- ``isolated``: a local problem on one service or host (a volume, a certificate, a disk).
- ``flapping``: an alert that fires and resolves over and over.
- ``blip``: an alert that fires for seconds and resolves.

Services of concurrent problems are drawn at random among services no other problem of the
episode has touched, without regard to the topology: an unrelated problem may well land
next to a cascade, as it does in production. One exception keeps the truth honest: an
independent second cascade does not start on a service whose dependencies (two hops) are
already failing, since no observer could tell that failure from one the first caused.

Every firing alert is re-sent every ``resend`` seconds while it fires, as a sender does;
the ``duplicates`` profile re-sends every 10 s and favours large fan-outs.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.fingerprint import fingerprint
from bench.storm.graph import Graph, Service, build, redeploy
from bench.storm.vocab import STORE_TECHS, RuleText, Vocabulary

ENVIRONMENT = "prod"
EPISODE_GAP = 3600.0
_TEMPLATE = re.compile(r"\{\{(.*?)\}\}")
_LABEL_REF = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    episodes: int
    resend: float
    second_cascade: float  # probability of a second, independent cascade
    fanouts: tuple[int, int]
    fanout_pods: tuple[int, int]  # pods of a scaled-up fan-out (0, 0: the service's own)
    isolated: tuple[int, int]
    node_failure: float
    flapping: tuple[int, int]
    blips: tuple[int, int]


PROFILES = {
    "storm": Profile("storm", 3, 60.0, 0.5, (1, 1), (0, 0), (2, 4), 0.3, (1, 1), (4, 8)),
    # Large fan-outs re-sent every 10 s, next to a cascade and a little other trouble.
    "duplicates": Profile(
        "duplicates", 3, 10.0, 0.3, (2, 2), (20, 60), (1, 2), 0.0, (0, 1), (1, 3)
    ),
}


@dataclass(slots=True)
class StormAlert:
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    problem: str
    windows: list[tuple[float, float]] = field(default_factory=list)  # firing intervals


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    alert: StormAlert
    firing: bool
    starts_at: float
    ends_at: float | None


@dataclass(slots=True)
class Problem:
    id: str
    kind: str
    root: str | None  # the true root service of a cascade
    alerts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Storm:
    seed: int
    profile: str
    graph: Graph
    vocabulary: str
    alerts: dict[str, StormAlert]
    problems: dict[str, Problem]
    events: list[Event]

    @property
    def truth(self) -> dict[str, str]:
        return {fp: a.problem for fp, a in self.alerts.items()}


def generate(seed: int, profile: Profile, vocabulary: Vocabulary) -> Storm:
    rng = random.Random(seed)
    stores = [t for t in STORE_TECHS if vocabulary.roles.get(f"root:{t}")] or ["PostgreSQL"]
    graph = build(rng, stores)
    maker = _Maker(rng, graph, vocabulary)
    for episode in range(profile.episodes):
        if episode:
            redeploy(rng, graph)
        maker.episode(profile, episode * EPISODE_GAP)
    events = _events(maker.alerts.values(), profile.resend)
    return Storm(seed, profile.name, graph, vocabulary.source, maker.alerts, maker.problems, events)


class _Maker:
    def __init__(self, rng: random.Random, graph: Graph, vocabulary: Vocabulary) -> None:
        self.rng = rng
        self.graph = graph
        self.vocabulary = vocabulary
        self.alerts: dict[str, StormAlert] = {}
        self.problems: dict[str, Problem] = {}
        self._ips: dict[str, str] = {}
        self._busy: set[str] = set()  # services touched in the current episode

    def episode(self, profile: Profile, t0: float) -> None:
        rng = self.rng
        self._busy = set()
        stores = [s for s in self.graph.layer(0) if self.graph.dependants(s.name)]
        self.cascade(rng.choice(stores), t0 + rng.uniform(0, 60))
        if rng.random() < profile.second_cascade:
            roots = [s for s in self.graph.layer(1) + self.graph.layer(0) if self._independent(s)]
            if roots:
                self.cascade(rng.choice(roots), t0 + rng.uniform(60, 300))
        for _ in range(rng.randint(*profile.fanouts)):
            if (target := self._free(1, 2)) is not None:
                self.fanout(target, t0 + rng.uniform(0, 300), profile.fanout_pods)
        for _ in range(rng.randint(*profile.isolated)):
            self.isolated(t0 + rng.uniform(0, 600))
        if rng.random() < profile.node_failure:
            self.node_failure(rng.choice(self.graph.nodes), t0 + rng.uniform(0, 600))
        for _ in range(rng.randint(*profile.flapping)):
            if (target := self._free(1, 2, 3)) is not None:
                self.flapping(target, t0 + rng.uniform(0, 300))
        for _ in range(rng.randint(*profile.blips)):
            if (target := self._free(1, 2)) is not None:
                self.blip(target, t0 + rng.uniform(0, 900))

    # --- problems ------------------------------------------------------------------------

    def cascade(self, root: Service, t0: float) -> None:
        rng = self.rng
        problem = self._problem("cascade", root.name)
        duration = rng.uniform(300, 900)
        role = f"root:{root.tech}" if root.layer == 0 else "root:app"
        for rule in self._rules(role, rng.choice((1, 1, 2))):
            late = rng.random() < 0.2  # e.g. a replication-lag rule with a long ``for``
            for pod in self._some(root.pods, 0.5):
                start = t0 + (rng.uniform(60, 180) if late else rng.uniform(0, 20))
                self._fire(problem, rule, root, pod, {}, start, t0 + duration + rng.uniform(0, 60))
        self._busy.add(root.name)
        level = {root.name: 0}
        frontier = [root.name]
        reach = (0.9, 0.75, 0.6, 0.45)
        for depth in range(1, len(reach) + 1):
            following: list[str] = []
            for failing in frontier:
                for caller in self.graph.dependants(failing):
                    if caller in level or caller in self._busy or rng.random() > reach[depth - 1]:
                        continue
                    level[caller] = depth
                    following.append(caller)
                    self._symptoms(
                        problem, self.graph.services[caller], failing, depth, t0, duration
                    )
            frontier = following
        self._busy.update(level)

    def _symptoms(
        self,
        problem: Problem,
        caller: Service,
        upstream: str,
        depth: int,
        t0: float,
        duration: float,
    ) -> None:
        rng = self.rng
        if caller.layer == 3:
            rules = self._rules(f"edge:{caller.tech}", 1)
            extra: dict[str, str] = {}
        elif rng.random() < 0.5:
            rules = self._rules("upstream", 1) + self._rules("symptom", rng.choice((0, 1)))
            extra = {"envoy_cluster_name": upstream}
        else:
            rules = self._rules("symptom", rng.choice((1, 2)))
            extra = {}
        for rule in rules:
            labels = extra if "envoy_cluster_name" in rule.description else {}
            for pod in self._some(caller.pods, 0.4):
                start = t0 + depth * rng.uniform(15, 45) + rng.uniform(0, 60)
                end = t0 + duration + depth * rng.uniform(0, 30) + rng.uniform(0, 60)
                self._fire(problem, rule, caller, pod, labels, start, end)

    def fanout(self, service: Service, t0: float, scaled: tuple[int, int]) -> None:
        rng = self.rng
        problem = self._problem("fanout", service.name)
        pods = service.pods
        if scaled != (0, 0):
            pods = [
                f"{service.name}-scaled-{i}-{rng.randrange(10**6):06d}"
                for i in range(rng.randint(*scaled))
            ]
        end = t0 + rng.uniform(300, 1200)
        for rule in self._rules("fanout", rng.choice((1, 2))):
            for pod in self._some(pods, 0.6):
                self._fire(
                    problem,
                    rule,
                    service,
                    pod,
                    {},
                    t0 + rng.uniform(0, 90),
                    end + rng.uniform(0, 60),
                )
        self._busy.add(service.name)

    def isolated(self, t0: float) -> None:
        rng = self.rng
        end = t0 + rng.uniform(300, 1800)
        service = self._free(1, 2, 3) if rng.random() < 0.65 else None
        if service is None:
            problem = self._problem("isolated", None)
            node = rng.choice(self.graph.nodes)
            for rule in self._rules("host", rng.choice((1, 1, 2))):
                self._fire_host(problem, rule, node, t0 + rng.uniform(0, 60), end)
            return
        problem = self._problem("isolated", service.name)
        for rule in self._rules("local", 1):
            for pod in rng.sample(service.pods, min(len(service.pods), rng.choice((1, 1, 2)))):
                self._fire(problem, rule, service, pod, {}, t0 + rng.uniform(0, 60), end)
        self._busy.add(service.name)

    def node_failure(self, node: str, t0: float) -> None:
        rng = self.rng
        problem = self._problem("node", None)
        end = t0 + rng.uniform(300, 900)
        for rule in self._rules("node-down", 1):
            self._fire_host(problem, rule, node, t0, end)
        rule = self._rules("pod-down", 1)[0]
        for service in self.graph.services.values():
            for pod in service.pods:
                if self.graph.pod_node.get(pod) == node and service.name not in self._busy:
                    self._fire(
                        problem, rule, service, pod, {"node": node}, t0 + rng.uniform(10, 90), end
                    )

    def flapping(self, service: Service, t0: float) -> None:
        rng = self.rng
        problem = self._problem("flapping", service.name)
        rule = self._rules("flapping", 1)[0]
        for pod in rng.sample(service.pods, min(len(service.pods), rng.choice((1, 2)))):
            alert = self._alert(problem, rule, service, pod, {})
            if alert is None:
                continue
            at = t0 + rng.uniform(0, 30)
            for _ in range(rng.randint(6, 12)):
                on = rng.uniform(20, 120)
                alert.windows.append((at, at + on))
                at += on + rng.uniform(20, 90)
        self._busy.add(service.name)

    def blip(self, service: Service, t0: float) -> None:
        problem = self._problem("blip", service.name)
        rule = self.rng.choice(self.vocabulary.pool("symptom") + self.vocabulary.pool("local"))
        pod = self.rng.choice(service.pods)
        self._fire(problem, rule, service, pod, {}, t0, t0 + self.rng.uniform(5, 45))
        self._busy.add(service.name)

    # --- alerts --------------------------------------------------------------------------

    def _problem(self, kind: str, root: str | None) -> Problem:
        problem = Problem(
            f"P{len(self.problems) + 1}-{kind}", kind, root if kind == "cascade" else None
        )
        self.problems[problem.id] = problem
        return problem

    def _rules(self, role: str, count: int) -> list[RuleText]:
        pool = self.vocabulary.pool(role)
        return self.rng.sample(pool, min(count, len(pool)))

    def _some(self, pods: list[str], at_least: float) -> list[str]:
        """A random share (``at_least``..1) of the pods, at least one."""
        share = self.rng.uniform(at_least, 1.0)
        return self.rng.sample(pods, max(1, round(len(pods) * share)))

    def _independent(self, service: Service) -> bool:
        """Could this service fail on its own now? Not if it is already failing, nor if
        a dependency of it (two hops at most) is: nobody could tell such a failure from
        one the other problem caused, so calling it independent would be a wrong truth."""
        if service.name in self._busy:
            return False
        near = set(service.depends_on)
        for name in service.depends_on:
            near.update(self.graph.services[name].depends_on)
        return near.isdisjoint(self._busy)

    def _free(self, *layers: int) -> Service | None:
        free = [
            s
            for s in self.graph.services.values()
            if s.layer in layers and s.name not in self._busy
        ]
        return self.rng.choice(free) if free else None

    def _fire(
        self,
        problem: Problem,
        rule: RuleText,
        service: Service,
        pod: str,
        extra: dict[str, str],
        start: float,
        end: float,
    ) -> None:
        alert = self._alert(problem, rule, service, pod, extra)
        if alert is not None:
            alert.windows.append((start, max(end, start + 1)))

    def _fire_host(
        self, problem: Problem, rule: RuleText, node: str, start: float, end: float
    ) -> None:
        labels = {
            "alertname": rule.alertname,
            "severity": rule.severity,
            "environment": ENVIRONMENT,
            "instance": f"{self._ip(node)}:9100",
            "node": node,
            "job": "node-exporter",
        }
        alert = self._register(problem, rule, labels)
        if alert is not None:
            alert.windows.append((start, end))

    def _alert(
        self, problem: Problem, rule: RuleText, service: Service, pod: str, extra: dict[str, str]
    ) -> StormAlert | None:
        port = 9187 if service.layer == 0 else 8080
        labels = {
            "alertname": rule.alertname,
            "severity": rule.severity,
            "environment": ENVIRONMENT,
            "service": service.name,
            "namespace": service.namespace,
            "pod": pod,
            "instance": f"{self._ip(pod)}:{port}",
            "job": f"{service.tech.lower()}-exporter" if service.layer == 0 else "kubernetes-pods",
            **extra,
        }
        return self._register(problem, rule, labels)

    def _register(
        self, problem: Problem, rule: RuleText, labels: dict[str, str]
    ) -> StormAlert | None:
        """Fill the labels the rule's texts refer to, and keep the alert unless another
        problem already used this label set (an alert belongs to one problem)."""
        for name in _LABEL_REF.findall(rule.description):
            labels.setdefault(name, _label_value(name, labels))
        fp = fingerprint(labels)
        if fp in self.alerts:
            return None
        value = f"{self.rng.uniform(1, 100):.1f}"
        pairs = " ".join(f"{k}:{v}" for k, v in sorted(labels.items()))
        annotations = {
            "summary": f"{rule.name} (instance {labels['instance']})",
            "description": f"{render(rule.description, labels, value)}\n  VALUE = {value}\n"
            f"  LABELS = map[{pairs}]",
        }
        alert = StormAlert(fp, labels, annotations, problem.id)
        self.alerts[fp] = alert
        problem.alerts.append(fp)
        return alert

    def _ip(self, name: str) -> str:
        if name not in self._ips:
            n = len(self._ips) + 1
            self._ips[name] = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        return self._ips[name]


def render(template: str, labels: dict[str, str], value: str) -> str:
    """Prometheus-style templates: ``$labels.x`` from the labels, ``$value`` (with any
    formatting pipe) as the value, ``$labels`` as Go prints a map."""

    def one(match: re.Match[str]) -> str:
        inner = match.group(1)
        ref = _LABEL_REF.search(inner)
        if ref:
            return labels.get(ref.group(1), "")
        if "$value" in inner:
            return value
        if "$labels" in inner:
            return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(labels.items())) + "]"
        return ""

    return _TEMPLATE.sub(one, template)


def _label_value(name: str, labels: dict[str, str]) -> str:
    """A plausible value for a label a rule's text refers to."""
    service = labels.get("service", labels.get("node", "host"))
    pod = labels.get("pod", service)
    known = {
        "container": service,
        "deployment": service,
        "statefulset": service,
        "replicaset": pod.rsplit("-", 1)[0],
        "envoy_cluster_name": f"outbound|8080||{service}",
        "proxy": f"be_{service}",
        "backend": f"be_{service}",
        "server": pod,
        "datname": service.replace("-", "_"),
        "relname": "events",
        "queue": f"{service}.work",
        "topic": f"{service}-events",
        "consumergroup": service,
        "name": pod,
        "device": "eth0",
        "mountpoint": "/var/lib/data",
        "job_name": f"{service}-nightly",
        "cronjob": f"{service}-nightly",
        "persistentvolumeclaim": f"data-{pod}",
        "horizontalpodautoscaler": service,
        "sans": f"{service}.example.com",
        "node": labels.get("node", "node-00"),
    }
    return known.get(name, f"{name}-{service}")


def _events(alerts: Iterable[StormAlert], resend: float) -> list[Event]:
    """Firing (first and re-sent) and resolve events of every alert, in time order."""
    events: list[Event] = []
    for alert in alerts:
        for start, end in alert.windows:
            at = start
            while at < end:
                events.append(Event(at, alert, True, start, None))
                at += resend
            events.append(Event(end, alert, False, start, end))
    events.sort(key=lambda e: (e.at, e.firing, e.alert.fingerprint))
    return events
