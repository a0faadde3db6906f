"""Runtime settings: the validated config file, then environment, then command line.

Precedence is the usual one (flag > environment > file > default) so a container can be
configured entirely through ``TRIAGED_*`` variables while the file stays the reference.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec

from daemon.config import (
    DEFAULT_ROUTING,
    KNOWN_SOURCES,
    Config,
    RateLimit,
    SourceConfig,
    default_config_path,
    load_config,
    load_routing_file,
    load_topology_file,
)
from daemon.config_types import (
    ConfigError,
    resolve_secret,
    seconds,
)
from daemon.credentials import Credentials, HmacKey
from daemon.ratelimit import RateLimiter
from daemon.sources import Limits
from daemon.topology import TopologyDocument
from routing import RoutingTable, load_routing
from triage.batch import FoldSettings
from triage.process.config import ProcessSettings, compile_process


class Settings(msgspec.Struct, frozen=True):
    config: Config
    config_path: str
    host: str
    port: int
    data_dir: Path
    redis_url: str | None
    api: Credentials
    source_credentials: Mapping[str, Credentials]
    routing: RoutingTable
    process: ProcessSettings
    topology: TopologyDocument | None = None
    """The service graph from the configuration; a graph PUT to the API wins over it."""
    insecure: bool = False
    clock: Callable[[], float] = time.time
    """The daemon's notion of now (epoch seconds) for every decision it makes: the
    pipeline, the scheduler and the APIs all read it, so a test can drive time."""

    @property
    def limits(self) -> Limits:
        ingest = self.config.ingest
        return Limits(
            max_alerts=ingest.max_alerts_per_request,
            max_labels=ingest.max_labels,
            max_name_bytes=ingest.max_name_bytes,
            max_value_bytes=ingest.max_value_bytes,
        )

    def rate_limiter(self) -> RateLimiter:
        """Per-source buckets from ``sources.<name>.rate``, else ``ingest.rate``."""
        ingest = self.config.ingest
        own = self.config.sources
        per_source: dict[str, RateLimit] = {}
        per_token: dict[str, RateLimit | None] = {}
        for name in KNOWN_SOURCES:
            source = own.get(name)
            per_source[name] = (source.rate if source else None) or ingest.rate
            per_token[name] = (source.token_rate if source else None) or ingest.token_rate
        return RateLimiter(per_source, per_token)

    @property
    def fold(self) -> FoldSettings:
        c = self.config
        return FoldSettings(
            key_labels=tuple(tuple(position) for position in c.correlation.key_labels),
            reopen_window=seconds(c.correlation.reopen_window),
            auto_resolve_grace=seconds(c.lifecycle.auto_resolve_grace),
            default_group=self.routing.tree.root.target.group,
            correlation=c.correlation.engine(),
        )

    def credentials_for(self, source: str) -> Credentials:
        """A source's own credentials, else the API tokens; none means open."""
        own = self.source_credentials.get(source)
        return own if own is not None and own.required else self.api


def build_settings(
    *,
    config_path: str | None = None,
    host: str | None = None,
    port: int | None = None,
    data_dir: str | None = None,
    redis_url: str | None = None,
    insecure: bool = False,
    environ: Mapping[str, str] = os.environ,
    clock: Callable[[], float] = time.time,
) -> Settings:
    path = Path(config_path or environ.get("TRIAGED_CONFIG") or default_config_path())
    config = load_config(path)
    api_tokens = {
        resolve_secret(t, field=f"auth.api_tokens[{i}]")
        for i, t in enumerate(config.auth.api_tokens)
    }
    if environ.get("TRIAGED_API_TOKEN"):
        api_tokens.add(environ["TRIAGED_API_TOKEN"])
    scopes: dict[str, frozenset[str]] = {}
    for i, scoped in enumerate(config.auth.scoped_tokens):
        token = resolve_secret(scoped.token, field=f"auth.scoped_tokens[{i}].token")
        scopes[token] = scopes.get(token, frozenset()) | frozenset(scoped.scopes)
    api_tokens |= set(scopes)
    source_credentials = {
        name: _credentials(name, source) for name, source in config.sources.items()
    }
    port_text = environ.get("TRIAGED_PORT")
    try:
        env_port = int(port_text) if port_text else None
    except ValueError as exc:
        raise ConfigError(
            "environment", [f"TRIAGED_PORT: not a port number: {port_text!r}"]
        ) from exc
    return Settings(
        config=config,
        config_path=str(path),
        host=host or environ.get("TRIAGED_HOST") or config.server.host,
        port=port if port is not None else env_port if env_port is not None else config.server.port,
        data_dir=Path(data_dir or environ.get("TRIAGED_DATA_DIR") or config.store.data_dir),
        redis_url=redis_url
        or environ.get("TRIAGED_REDIS_URL")
        or environ.get("REDIS_URL")
        or config.store.redis_url,
        api=Credentials(tokens=frozenset(api_tokens), scopes=scopes),
        source_credentials=source_credentials,
        routing=routing_table(config, path),
        process=compile_process(config.process),
        topology=configured_topology(config, path),
        insecure=insecure,
        clock=clock,
    )


def routing_table(config: Config, config_path: Path) -> RoutingTable:
    """The routing file named by the config (relative to the config file), or the default."""
    channels = [channel.name for channel in config.channels]
    if config.routing_file is None:
        return load_routing(DEFAULT_ROUTING, channels=channels)
    return load_routing_file(config_path.parent / config.routing_file, channels)


def configured_topology(config: Config, config_path: Path) -> TopologyDocument | None:
    """``correlation.topology``, or the file ``correlation.topology_file`` names
    (relative to the config file), or None."""
    correlation = config.correlation
    if correlation.topology_file is not None:
        return load_topology_file(config_path.parent / correlation.topology_file)
    return correlation.topology


def _credentials(name: str, source: SourceConfig) -> Credentials:
    where = f"sources.{name}"
    hmac_key = None
    if source.hmac is not None:
        secret = resolve_secret(source.hmac.secret, field=f"{where}.hmac.secret")
        hmac_key = HmacKey(
            secret=secret.encode(), header=source.hmac.header, prefix=source.hmac.prefix
        )
    return Credentials(
        tokens=frozenset(
            resolve_secret(t, field=f"{where}.tokens[{i}]") for i, t in enumerate(source.tokens)
        ),
        basic=frozenset(
            (b.username, resolve_secret(b.password, field=f"{where}.basic[{i}].password"))
            for i, b in enumerate(source.basic)
        ),
        hmac=hmac_key,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_problem(settings: Settings) -> str | None:
    """Listening beyond loopback with no token would let anyone post or resolve incidents."""
    if is_loopback(settings.host) or settings.insecure or settings.api.required:
        return None
    return (
        f"refusing to listen on {settings.host} without auth: set auth.api_tokens "
        "(or TRIAGED_API_TOKEN), or pass --insecure"
    )
