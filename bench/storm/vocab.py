"""Alert names and texts for the storm generator, by the role an alert plays in a storm.

When ``../shared/datasets/awesome-prometheus-alerts/rules.yml`` is present (the community
catalogue by Samuel Berthe and contributors, CC BY 4.0) the rules are read from it at run
time and chosen by dataset service and a pattern on the rule name (``_SELECTION`` below:
which rules of which catalogue service play which role). Nothing of it is copied into the
repository. Without the file a small built-in vocabulary written for this benchmark
stands in, with the same roles.

Roles:

- ``root:<tech>``: what a failing component of that technology raises first (a database
  down, a broker partitioned); ``root:app`` for an application that breaks on its own;
- ``symptom``: what a caller of a failing component raises (5xx rate, latency, probes);
- ``upstream``: a caller's alert that names the upstream it fails to reach
  (``envoy_cluster_name``), as sidecar proxies report it;
- ``edge:<tech>``: an edge proxy's symptoms;
- ``fanout``: runtime and resource warnings that fire on many pods of one service at
  once (after a rollout) without failing its callers;
- ``local``: problems confined to one service (volumes, jobs, certificates, runtimes);
- ``host``: node problems; ``node-down`` and ``pod-down`` for a node failure;
- ``flapping``: alerts that tend to flap (probes, health checks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATASET = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "awesome-prometheus-alerts"
RULES_FILE = DATASET / "rules.yml"
ATTRIBUTION = (
    "alert names and descriptions: awesome-prometheus-alerts by Samuel Berthe and "
    "contributors (CC BY 4.0), read at run time"
)

STORE_TECHS = (
    "PostgreSQL",
    "MySQL",
    "Redis",
    "MongoDB",
    "RabbitMQ",
    "Kafka",
    "Elasticsearch",
    "Cassandra",
)
EDGE_TECHS = ("Nginx", "Traefik", "HaProxy")
_ROOT_EXCLUDE = re.compile(
    r"exporter|backup|ssl|configuration|version|restarted|tombstone|too many masters"
    r"|status \d|duplicate|flapping|underutilized|auto (vacuum|analy)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RuleText:
    name: str  # human words, e.g. "Postgresql down"
    description: str  # may hold {{ $labels.x }} / {{ $value }} templates
    severity: str

    @property
    def alertname(self) -> str:
        """CamelCase of the name, as the catalogue's generated rules spell it."""
        return "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", self.name))


@dataclass(frozen=True, slots=True)
class Vocabulary:
    roles: dict[str, tuple[RuleText, ...]]
    source: str

    def pool(self, role: str) -> tuple[RuleText, ...]:
        """Rules of a role; an empty role falls back to its family (``root:x`` to
        ``root:app``, ``edge:x`` to ``symptom``) so a trimmed catalogue still works."""
        found = self.roles.get(role, ())
        if found:
            return found
        family = {"root": "root:app", "edge": "symptom"}.get(role.split(":")[0], "")
        return self.roles.get(family, ()) or self.roles["symptom"]


# role -> (catalogue service, pattern on the rule name)
_SELECTION: dict[str, tuple[tuple[str, str], ...]] = {
    "root:app": (
        ("Kubernetes", r"crash looping|pod not healthy|statefulset down"),
        ("JVM", r"threads deadlocked"),
        ("Envoy", r"server not live"),
    ),
    "fanout": (
        ("Kubernetes", r"oom killer|container waiting|hpa scale inability"),
        ("JVM", r"memory filling up|gc time too high|thread count high|non-heap"),
        ("Golang", r"memory usage high|goroutine count high|gc cpu fraction"),
    ),
    "symptom": (
        ("Istio", r"5xx error rate|request latency|latency 99"),
        ("Blackbox", r"probe failed|probe http failure|slow probe|probe slow http"),
        ("Linkerd", r"error rate"),
        ("Envoy", r"downstream http 5xx"),
    ),
    "upstream": (
        ("Envoy", r"upstream 5xx|circuit breaker|no healthy upstream|membership (empty|degraded)"),
    ),
    "edge:Nginx": (("Nginx", r"5xx|latency"),),
    "edge:Traefik": (("Traefik", r"5xx error rate|backend down"),),
    "edge:HaProxy": (
        ("HaProxy", r"5xx error rate backend$|backend connection errors$|slowing down$"),
    ),
    "local": (
        ("Kubernetes", r"volume out of disk|volume full|claim pending|job failed|cronjob failing"),
        ("Kubernetes", r"hpa scale inability|container waiting"),
        ("JVM", r"file descriptors|thread count high|non-heap"),
        ("Golang", r"goroutine spike|thread count high"),
        ("SSL/TLS", r"expiry|probe failed"),
    ),
    "host": (
        ("Host and hardware", r"out of (disk|memory|inodes)|disk may fill|clock skew|oom kill"),
        ("Host and hardware", r"high cpu load|swap|network (receive|transmit) errors"),
    ),
    "node-down": (("Kubernetes", r"node not ready|node network unavailable"),),
    "pod-down": (("Kubernetes", r"pod not healthy|container waiting"),),
    "flapping": (
        ("Blackbox", r"probe failed|slow probe"),
        ("HaProxy", r"healthcheck flapping"),
        ("Kubernetes", r"crash looping"),
    ),
}


def load(path: Path = RULES_FILE) -> Vocabulary:
    """The catalogue's vocabulary when the file is there, else the built-in one."""
    if not path.is_file():
        return builtin()
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    by_service: dict[str, list[RuleText]] = {}
    for group in document.get("groups", []):
        for service in group.get("services", []):
            rules = by_service.setdefault(service["name"], [])
            for exporter in service.get("exporters", []):
                for rule in exporter.get("rules") or []:
                    if rule.get("severity") in ("critical", "warning"):
                        rules.append(
                            RuleText(
                                rule["name"], str(rule.get("description", "")), rule["severity"]
                            )
                        )
    roles: dict[str, tuple[RuleText, ...]] = {}
    for role, picks in _SELECTION.items():
        chosen = [
            rule
            for service, pattern in picks
            for rule in by_service.get(service, [])
            if re.search(pattern, rule.name, re.IGNORECASE)
        ]
        roles[role] = tuple(dict.fromkeys(chosen))
    for tech in STORE_TECHS:
        rules = by_service.get(tech, [])
        critical = [
            r for r in rules if r.severity == "critical" and not _ROOT_EXCLUDE.search(r.name)
        ]
        roles[f"root:{tech}"] = tuple(critical or rules)
    if not roles.get("symptom"):
        return builtin()
    return Vocabulary(roles, ATTRIBUTION)


def builtin() -> Vocabulary:
    """A small vocabulary written for this benchmark, used without the catalogue."""

    def rules(*items: tuple[str, str, str]) -> tuple[RuleText, ...]:
        return tuple(RuleText(n, d, s) for n, d, s in items)

    crit, warn = "critical", "warning"
    return Vocabulary(
        {
            "root:PostgreSQL": rules(
                ("Postgres unavailable", "PostgreSQL server is not accepting connections", crit),
                ("Postgres connections exhausted", "All connection slots are in use", crit),
            ),
            "root:Redis": rules(
                ("Redis unavailable", "Redis server is not answering PING", crit),
                ("Redis memory exhausted", "Redis used memory reached maxmemory", crit),
            ),
            "root:Kafka": rules(
                (
                    "Kafka under-replicated partitions",
                    "Topic {{ $labels.topic }} lost replicas",
                    crit,
                ),
            ),
            "root:app": rules(
                ("Pod crash looping", "Pod {{ $labels.pod }} restarted {{ $value }} times", warn),
                ("Pod not ready", "Pod {{ $labels.pod }} fails its readiness probe", crit),
            ),
            "fanout": rules(
                ("Heap nearly full", "Heap usage above 90% for 5 minutes", warn),
                ("Container memory near limit", "Working set above 90% of the limit", warn),
            ),
            "symptom": rules(
                ("Service error ratio high", "More than 5% of requests fail with 5xx", crit),
                ("Service latency high", "p99 request latency above 1s ({{ $value }}s)", warn),
                ("Endpoint probe failing", "Synthetic HTTP probe returns errors", crit),
            ),
            "upstream": rules(
                (
                    "Upstream requests failing",
                    "Requests to cluster {{ $labels.envoy_cluster_name }} fail with 5xx",
                    crit,
                ),
                (
                    "Upstream has no healthy hosts",
                    "No healthy host in cluster {{ $labels.envoy_cluster_name }}",
                    crit,
                ),
            ),
            "local": rules(
                ("Volume almost full", "Persistent volume has less than 10% free", warn),
                ("Certificate expires soon", "TLS certificate expires in less than 7 days", warn),
                ("Batch job failed", "Job {{ $labels.job_name }} failed to complete", warn),
            ),
            "host": rules(
                ("Node disk almost full", "Root filesystem has less than 10% free", crit),
                ("Node memory low", "Less than 10% memory available", warn),
            ),
            "node-down": rules(("Node not ready", "Node {{ $labels.node }} is not ready", crit)),
            "pod-down": rules(("Pod not running", "Pod {{ $labels.pod }} is not running", crit)),
            "flapping": rules(("Health check flapping", "Health check keeps changing state", warn)),
        },
        "built-in vocabulary",
    )
