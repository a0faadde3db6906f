"""A seeded synthetic service graph shaped like a small online shop.

Four layers, each depending only on lower ones, so the graph has no cycles: data stores
and brokers; core services (each owning a store, some calling other core services, many
calling the shared ``auth``); aggregating APIs; and edge proxies. Pods live on a pool of
nodes. Sizes vary by seed but stay in the range of one team's production estate (about
30-40 services), which is where an on-call engineer meets alert storms.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

from bench.storm.vocab import EDGE_TECHS

_CORE = (
    "orders",
    "payments",
    "inventory",
    "users",
    "catalog",
    "pricing",
    "shipping",
    "notifications",
    "search",
    "reviews",
    "recommendations",
    "ledger",
    "fraud",
    "billing",
    "accounts",
    "loyalty",
)
_MID = ("checkout", "cart", "profile", "storefront-api", "mobile-bff", "partner-api", "admin-api")
_EDGE = ("web-frontend", "mobile-gateway", "public-gateway")
_STORE_SUFFIX = {
    "PostgreSQL": "db",
    "MySQL": "mysql",
    "Redis": "cache",
    "MongoDB": "mongo",
    "RabbitMQ": "queue",
    "Kafka": "events",
    "Elasticsearch": "index",
    "Cassandra": "store",
}


@dataclass(slots=True)
class Service:
    name: str
    layer: int  # 0 stores, 1 core, 2 aggregating APIs, 3 edge
    tech: str  # store/edge technology, "app" for application services
    namespace: str
    pods: list[str]
    depends_on: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Graph:
    services: dict[str, Service]
    nodes: list[str]
    pod_node: dict[str, str]

    def topology(self) -> dict[str, dict[str, dict[str, list[str]]]]:
        """The document ``PUT /api/v1/topology`` takes."""
        return {
            "services": {
                s.name: {"depends_on": sorted(s.depends_on)} for s in self.services.values()
            }
        }

    def dependants(self, name: str) -> list[str]:
        return sorted(s.name for s in self.services.values() if name in s.depends_on)

    def layer(self, layer: int) -> list[Service]:
        return [s for s in self.services.values() if s.layer == layer]


def build(rng: random.Random, stores: list[str]) -> Graph:
    """A graph for one seed; ``stores`` are the store technologies to use."""
    services: dict[str, Service] = {}
    core_names = rng.sample(_CORE, rng.randint(10, 14))
    core_names.insert(0, "auth")
    for name in core_names:
        tech = rng.choice(stores)
        store = Service(f"{name}-{_STORE_SUFFIX.get(tech, 'store')}", 0, tech, "data", [])
        store.pods = [f"{store.name}-{i}" for i in range(rng.choice((1, 2, 3)))]
        services[store.name] = store
        app = Service(name, 1, "app", _namespace(name), _pods(rng, name, rng.randint(3, 12)))
        app.depends_on.append(store.name)
        services[name] = app
    shared = [s for s in services.values() if s.layer == 0 and s.tech in ("Kafka", "RabbitMQ")]
    cores = [services[n] for n in core_names]
    for index, app in enumerate(cores[1:], start=1):
        if rng.random() < 0.6:
            app.depends_on.append("auth")
        earlier = [c.name for c in cores[1:index]]
        for callee in rng.sample(earlier, min(len(earlier), rng.choice((0, 1, 1, 2)))):
            app.depends_on.append(callee)
        if shared and rng.random() < 0.3:
            app.depends_on.append(rng.choice(shared).name)
    for name in rng.sample(_MID, rng.randint(5, 7)):
        mid = Service(name, 2, "app", "api", _pods(rng, name, rng.randint(3, 10)))
        mid.depends_on = sorted(rng.sample([c.name for c in cores], rng.randint(2, 4)))
        services[name] = mid
    mids = [s.name for s in services.values() if s.layer == 2]
    for name in _EDGE[: rng.randint(2, 3)]:
        edge = Service(name, 3, rng.choice(EDGE_TECHS), "edge", _pods(rng, name, rng.randint(2, 6)))
        edge.depends_on = sorted(rng.sample(mids, rng.randint(2, min(4, len(mids)))))
        services[name] = edge
    for service in services.values():
        service.depends_on = sorted(set(service.depends_on))
    nodes = [f"node-{i:02d}" for i in range(rng.randint(14, 24))]
    pod_node = {pod: rng.choice(nodes) for s in services.values() for pod in s.pods}
    return Graph(services, nodes, pod_node)


def redeploy(rng: random.Random, graph: Graph) -> None:
    """New pod names for every application (a new ReplicaSet), as between storms."""
    for service in graph.services.values():
        if service.tech != "app" and service.layer != 3:
            continue
        service.pods = _pods(rng, service.name, len(service.pods))
        for pod in service.pods:
            graph.pod_node[pod] = rng.choice(graph.nodes)


def _namespace(name: str) -> str:
    return {"auth": "identity", "users": "identity", "accounts": "identity"}.get(name, "shop")


def _pods(rng: random.Random, service: str, count: int) -> list[str]:
    alphabet = string.ascii_lowercase + string.digits
    template = "".join(rng.choices(alphabet, k=9))
    return [f"{service}-{template}-{''.join(rng.choices(alphabet, k=5))}" for _ in range(count)]
