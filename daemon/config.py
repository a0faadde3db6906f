"""Configuration: YAML on disk, validated once at load, errors naming file, line and field.

Every section has defaults, so an empty file is a valid configuration; the shipped
``config/triaged.yaml`` spells the defaults out with comments. Unknown keys are errors:
a typo must not silently fall back to a default.
"""

from __future__ import annotations

import site
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from daemon.config_types import (
    ConfigError,
    ConfigSection,
    Duration,
    Secret,
    SecretRef,
    seconds,
)
from daemon.delivery.config import ChannelConfig, validate_channels
from daemon.topology import TopologyDocument
from daemon.topology import problems as topology_problems
from daemon.validation import FieldError, dotted, explain
from routing import RoutingConfigError, RoutingTable, load_routing
from triage.classify.priority import PriorityPolicy
from triage.correlation import CorrelationConfig as EngineConfig
from triage.correlation import Flapping, Thresholds, Weights
from triage.process.config import ProcessConfig, check_process

# Senders with settings under ``sources:``; kept in step with daemon.sources.ADAPTERS by a test.
KNOWN_SOURCES = frozenset(
    {"alertmanager", "prometheus", "generic", "grafana", "pagerduty", "opsgenie", "datadog"}
    | {"cloudwatch", "zabbix", "alerta", "heartbeat"}
)


class ServerConfig(ConfigSection):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9187
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1024 * 1024
    public_url: str | None = None  # how people reach this daemon, for links in notifications
    store_timeout: Duration = "5s"
    shutdown_timeout: Duration = "10s"


ScopeName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]*$")]


class ScopedToken(ConfigSection):
    """An API token that may also read incidents restricted to one of ``scopes``."""

    token: Secret
    scopes: Annotated[list[ScopeName], msgspec.Meta(min_length=1)]


class AuthConfig(ConfigSection):
    """``api_tokens`` grant the whole API except incidents whose procedure restricts them
    to a scope (security incidents: ``security``); ``scoped_tokens`` grant those too."""

    api_tokens: list[Secret] = []
    scoped_tokens: list[ScopedToken] = []


class BasicCredential(ConfigSection):
    """What Prometheus's and Alertmanager's ``http_config.basic_auth`` send."""

    username: Annotated[str, msgspec.Meta(min_length=1)]
    password: Secret


class HmacAuth(ConfigSection):
    """A signature header: hex HMAC-SHA256 of the raw body with a shared secret."""

    secret: Secret
    header: str = "X-Signature-256"
    prefix: str = "sha256="


class RateLimit(ConfigSection):
    alerts_per_second: Annotated[float, msgspec.Meta(gt=0)]
    burst: Annotated[int, msgspec.Meta(ge=1)]


class SourceConfig(ConfigSection):
    """Per-sender settings under ``sources.<name>``; any credential given makes it required."""

    tokens: list[Secret] = []
    basic: list[BasicCredential] = []
    hmac: HmacAuth | None = None
    rate: RateLimit | None = None
    token_rate: RateLimit | None = None
    allowed_origins: list[str] = []
    confirm_subscriptions: bool = False


class IngestConfig(ConfigSection):
    max_alerts_per_request: Annotated[int, msgspec.Meta(ge=1)] = 1000
    max_labels: Annotated[int, msgspec.Meta(ge=1)] = 256
    max_name_bytes: Annotated[int, msgspec.Meta(ge=1)] = 1024
    max_value_bytes: Annotated[int, msgspec.Meta(ge=1)] = 16 * 1024
    rate: RateLimit = msgspec.field(
        default_factory=lambda: RateLimit(alerts_per_second=20000, burst=40000)
    )
    token_rate: RateLimit | None = None


class StoreConfig(ConfigSection):
    redis_url: str | None = None
    data_dir: str = "triaged-data"
    appendfsync: Literal["always", "everysec", "no"] = "everysec"


class PipelineConfig(ConfigSection):
    workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 500
    max_batch_alerts: Annotated[int, msgspec.Meta(ge=1, le=100000)] = 5000
    claim_idle: Duration = "30s"
    max_deliveries: Annotated[int, msgspec.Meta(ge=1)] = 5


_ENGINE = EngineConfig()


class ThresholdsConfig(ConfigSection):
    """Open an incident for a new key only after ``min_alerts`` alerts within ``window``,
    or once one has fired for ``pause`` (0: no time rule). The defaults admit at once."""

    min_alerts: Annotated[int, msgspec.Meta(ge=1)] = 1
    window: Duration = "60s"
    pause: Duration = "0s"


class FlappingConfig(ConfigSection):
    max_changes: Annotated[int, msgspec.Meta(ge=1)] = _ENGINE.flapping.max_changes
    window: Duration = "30m"
    clear_at: Annotated[int, msgspec.Meta(ge=0)] = _ENGINE.flapping.clear_at


class CorrelationConfig(ConfigSection):
    key_labels: list[list[str]] = msgspec.field(
        default_factory=lambda: [["service", "alertname"], ["environment", "env"]]
    )
    reopen_window: Duration = "10m"
    service_label: Annotated[str, msgspec.Meta(min_length=1)] = _ENGINE.service_label
    scope_labels: list[str] = msgspec.field(default_factory=lambda: list(_ENGINE.scope_labels))
    entity_labels: list[str] = msgspec.field(default_factory=lambda: list(_ENGINE.entity_labels))
    instance_labels: list[str] = msgspec.field(
        default_factory=lambda: list(_ENGINE.instance_labels)
    )
    topology_window: Duration = "15m"
    similarity_window: Duration = "15m"
    propagation_window: Duration = "3m"
    max_depth: Annotated[int, msgspec.Meta(ge=0, le=8)] = _ENGINE.max_depth
    similarity_threshold: Annotated[float, msgspec.Meta(ge=0, le=1)] = _ENGINE.similarity_threshold
    weights: Weights = msgspec.field(default_factory=Weights)
    auto_merge: bool = True
    override_ttl: Duration = "7d"
    thresholds: ThresholdsConfig = msgspec.field(default_factory=ThresholdsConfig)
    flapping: FlappingConfig = msgspec.field(default_factory=FlappingConfig)
    topology: TopologyDocument | None = None
    topology_file: str | None = None

    def engine(self) -> EngineConfig:
        """The engine's configuration (``triage.correlation.CorrelationConfig``)."""
        return msgspec.structs.replace(
            _ENGINE,
            service_label=self.service_label,
            scope_labels=tuple(self.scope_labels),
            entity_labels=tuple(self.entity_labels),
            instance_labels=tuple(self.instance_labels),
            reopen_window=seconds(self.reopen_window),
            topology_window=seconds(self.topology_window),
            similarity_window=seconds(self.similarity_window),
            propagation_window=seconds(self.propagation_window),
            max_depth=self.max_depth,
            similarity_threshold=self.similarity_threshold,
            weights=self.weights,
            auto_merge=self.auto_merge,
            override_ttl=seconds(self.override_ttl),
            thresholds=Thresholds(
                min_alerts=self.thresholds.min_alerts,
                min_alerts_window=seconds(self.thresholds.window),
                pause=seconds(self.thresholds.pause),
            ),
            flapping=Flapping(
                max_changes=self.flapping.max_changes,
                window=seconds(self.flapping.window),
                clear_at=self.flapping.clear_at,
            ),
        )


class TriageSection(ConfigSection):
    """Trained triage (docs/models.md). Relative paths are relative to the config file."""

    models_dir: str | None = None  # retrained models; null: <data_dir>/models
    datasets_dir: str | None = None  # base training data for retrain; null: retrain refused
    retrain_sample: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    group_threshold: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    ticket_sources: list[str] = msgspec.field(default_factory=lambda: ["generic"])
    memory_similarity: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    priority: PriorityPolicy = msgspec.field(default_factory=PriorityPolicy)


class LifecycleConfig(ConfigSection):
    auto_resolve_grace: Duration = "0s"


class RetentionConfig(ConfigSection):
    closed_incidents: Duration = "90d"
    resolved_alerts: Duration = "7d"


class LoggingConfig(ConfigSection):
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"


class Config(ConfigSection):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    ingest: IngestConfig = msgspec.field(default_factory=IngestConfig)
    sources: dict[str, SourceConfig] = {}
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    pipeline: PipelineConfig = msgspec.field(default_factory=PipelineConfig)
    correlation: CorrelationConfig = msgspec.field(default_factory=CorrelationConfig)
    lifecycle: LifecycleConfig = msgspec.field(default_factory=LifecycleConfig)
    triage: TriageSection = msgspec.field(default_factory=TriageSection)
    routing_file: str | None = None
    channels: list[ChannelConfig] = []
    process: ProcessConfig = msgspec.field(default_factory=ProcessConfig)
    retention: RetentionConfig = msgspec.field(default_factory=RetentionConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)


SOURCE_ROOT = Path(__file__).resolve().parent.parent
"""The checkout this module runs from (an editable install), or site-packages."""


def shipped(
    name: str,
    marker: str,
    *,
    source_root: Path = SOURCE_ROOT,
    prefixes: tuple[str, ...] | None = None,
) -> Path:
    """A data folder the distribution ships (``config``, ``models``), recognised by a file
    matching ``marker`` in it: in the source tree beside the packages, else where pip put
    the data files, ``<prefix>/share/triaged/<name>`` for a virtual environment or system
    install, or under the user base for ``pip install --user``. The marker keeps another
    distribution's top-level ``config`` or ``models`` in site-packages from being taken."""
    if prefixes is None:
        prefixes = (sys.prefix, site.getuserbase())
    installed = [Path(prefix) / "share" / "triaged" / name for prefix in prefixes]
    found = (path for path in [source_root / name, *installed] if any(path.glob(marker)))
    return next(found, installed[0])


def default_config_path() -> Path:
    """The shipped ``config/triaged.yaml``."""
    return shipped("config", "triaged.yaml") / "triaged.yaml"


def default_models_dir() -> Path:
    """The shipped ``models/``: the trained artifacts with their manifests and cards."""
    return shipped("models", "*.manifest.json")


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"{path}: cannot read: {exc.strerror}"]) from exc
    return parse_config(text, str(path))


def parse_config(text: str, name: str) -> Config:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(name, [f"{name}{line}: invalid YAML: {exc}"]) from exc
    if data is None:
        data = {}
    lines = _line_map(node) if node is not None else {}
    try:
        config = msgspec.convert(data, Config)
    except msgspec.ValidationError as exc:
        errors = explain(Config, data, str(exc))
        raise ConfigError(name, [_locate(name, lines, error) for error in errors]) from exc
    problems = [_locate(name, lines, e) for e in _check(config)]
    if problems:
        raise ConfigError(name, problems)
    return config


def _check(config: Config) -> list[FieldError]:
    """Rules the schema cannot express."""
    errors: list[FieldError] = []
    for path, secret in _secrets(config):
        if isinstance(secret, SecretRef) and (secret.env is None) == (secret.file is None):
            errors.append(
                FieldError(field=dotted(path), message="give exactly one of env, file", path=path)
            )
    if not config.correlation.key_labels or not all(config.correlation.key_labels):
        errors.append(
            FieldError(
                field="correlation.key_labels",
                message="needs at least one position, each with at least one label name",
                path=("correlation", "key_labels"),
            )
        )
    correlation = config.correlation
    if correlation.topology is not None and correlation.topology_file is not None:
        errors.append(
            FieldError(
                "correlation.topology_file",
                "give the topology inline (correlation.topology) or as a file, not both",
                ("correlation", "topology_file"),
            )
        )
    if correlation.topology is not None:
        errors += topology_problems(correlation.topology, ("correlation", "topology"))
    errors += validate_channels(config.channels)
    errors += [
        FieldError(field=dotted(p.path), message=p.message, path=p.path)
        for p in check_process(config.process)
    ]
    for name in config.sources:
        if name not in KNOWN_SOURCES:
            known = ", ".join(sorted(KNOWN_SOURCES))
            errors.append(
                FieldError(f"sources.{name}", f"unknown source; known: {known}", ("sources", name))
            )
    return errors


def _secrets(config: Config) -> list[tuple[tuple[str | int, ...], Secret]]:
    found: list[tuple[tuple[str | int, ...], Secret]] = [
        (("auth", "api_tokens", i), s) for i, s in enumerate(config.auth.api_tokens)
    ]
    found += [
        (("auth", "scoped_tokens", i, "token"), t.token)
        for i, t in enumerate(config.auth.scoped_tokens)
    ]
    for name, source in config.sources.items():
        found += [(("sources", name, "tokens", i), s) for i, s in enumerate(source.tokens)]
        found += [
            (("sources", name, "basic", i, "password"), b.password)
            for i, b in enumerate(source.basic)
        ]
        if source.hmac is not None:
            found.append((("sources", name, "hmac", "secret"), source.hmac.secret))
    return found


def _locate(name: str, lines: Mapping[tuple[str | int, ...], int], error: FieldError) -> str:
    path = error.path
    while path and path not in lines:
        path = path[:-1]
    line = lines.get(path)
    where = f"{name}:{line}" if line else name
    return f"{where}: {dotted(error.path) if error.path else error.field}: {error.message}"


def _line_map(node: yaml.Node) -> dict[tuple[str | int, ...], int]:
    lines: dict[tuple[str | int, ...], int] = {}

    def walk(current: yaml.Node, path: tuple[str | int, ...]) -> None:
        lines[path] = current.start_mark.line + 1
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                child = (*path, str(key_node.value))
                walk(value_node, child)
                lines[child] = key_node.start_mark.line + 1
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                walk(item, (*path, index))

    walk(node, ())
    return lines


def _read_yaml(path: Path) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """A YAML file's data and the line of every node path in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"{path}: cannot read: {exc.strerror}"]) from exc
    name = str(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(name, [f"{name}{line}: invalid YAML: {exc}"]) from exc
    return data, (_line_map(node) if node is not None else {})


def load_routing_file(path: Path, channels: Collection[str] | None = None) -> RoutingTable:
    """Parse and compile a routing file; every problem is reported as ``file:line: field``."""
    data, lines = _read_yaml(path)
    try:
        return load_routing(data, channels=channels)
    except RoutingConfigError as exc:
        problems = [
            _locate(
                str(path), lines, FieldError(field=dotted(p.path), message=p.message, path=p.path)
            )
            for p in exc.problems
        ]
        raise ConfigError(str(path), problems) from exc


def load_topology_file(path: Path) -> TopologyDocument:
    """A topology file (YAML, or JSON, which is YAML too), checked like the API's body;
    every problem is reported as ``file:line: field``."""
    data, lines = _read_yaml(path)
    name = str(path)
    try:
        document = msgspec.convert(data, TopologyDocument)
    except msgspec.ValidationError as exc:
        errors = explain(TopologyDocument, data, str(exc))
        raise ConfigError(name, [_locate(name, lines, error) for error in errors]) from exc
    if problems := topology_problems(document):
        raise ConfigError(name, [_locate(name, lines, error) for error in problems])
    return document


DEFAULT_ROUTING = {"route": {"group": "triage-queue"}, "groups": [{"name": "triage-queue"}]}
"""Without a routing file every incident goes to the triage queue."""


def as_plain(config: Config) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(config)
    return result
