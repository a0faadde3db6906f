"""Delivery end to end on real parts: Redis, a local HTTP receiver, a local SMTP server.

No mocks: notifications go through the outbox stream, a running ``DeliveryWorker`` and
real sockets. Backoff is milliseconds here so outages play out in about a second; the
30-second outage of issue 5 runs against the real daemon process in
tests/e2e/test_delivery_outage.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import itertools
import json
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, unused_port
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.asyncio import Redis

from daemon import keys, store
from daemon.app import create_app
from daemon.commit import Commit
from daemon.delivery import (
    ChannelConfig,
    DeliveryWorker,
    Notification,
    ensure_outbox,
    notifications_for,
    queue,
    queue_now,
)
from daemon.delivery.api import add_routes
from daemon.metrics import Metrics
from tests.conftest import SettingsFactory
from tests.receiver import Receiver
from tests.waiting import eventually
from triage.incident import Incident, IncidentStatus, TimelineEntry

Client = TestClient[web.Request, web.Application]

FAST = {"initial": "20ms", "max": "100ms"}
SECRET = "s3cret"


# --- helpers ------------------------------------------------------------------------------


def channel(name: str, type_: str, **fields: Any) -> ChannelConfig:
    return msgspec.convert({"name": name, "type": type_, **fields}, ChannelConfig)


def webhook(receiver: Receiver, name: str = "ops-hook", **fields: Any) -> ChannelConfig:
    options: dict[str, Any] = {"url": receiver.url(f"/{name}"), "secret": SECRET}
    options |= {"backoff": FAST, "max_attempts": 20, "timeout": "2s"}
    return channel(name, "webhook", **(options | fields))


def worker(redis: Redis, *channels: ChannelConfig, **options: Any) -> DeliveryWorker:
    options = {"claim_idle": 5.0, "read_block": 0.05} | options
    return DeliveryWorker(redis, list(channels), Metrics(), **options)


@asynccontextmanager
async def running(delivery: DeliveryWorker) -> AsyncIterator[DeliveryWorker]:
    await ensure_outbox(delivery.redis)  # so probes can ask the group before run() starts
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run(stop))
    try:
        yield delivery
    finally:
        stop.set()
        await task


async def seed_incident(redis: Redis, number: int, *, title: str = "Database down") -> Incident:
    """An incident as the pipeline leaves it: the record and its first timeline entry."""
    now = time.time()
    incident = Incident(
        id=keys.incident_id(number),
        key=f"service=svc{number}",
        title=title,
        status=IncidentStatus.TRIGGERED,
        priority="P1",
        category="availability",
        group="database",
        procedure="standard",
        created_at=now,
        updated_at=now,
        started_at=now,
    )
    commit = Commit()
    store.write_incident(commit, None, incident)
    opened = TimelineEntry(at=now, kind="open", actor="triaged", message="opened")
    commit.rpush(keys.incident_timeline(incident.id), [store.encode(opened)])
    assert await commit.apply(redis)
    return incident


def notify(
    incident: Incident, transition: str = "opened", *channels: str, target: str = "database"
) -> list[Notification]:
    return notifications_for(
        incident,
        transition,
        channels or ["ops-hook"],
        now=time.time(),
        target=target,
        url=f"https://triaged.example/incidents/{incident.id}",
    )


async def until(condition: Callable[[], bool], *, what: str, within: float = 10.0) -> None:
    async def probe() -> bool:
        return condition()

    await eventually(probe, within=within, what=what)


async def deliveries(redis: Redis, incident_id: str) -> list[dict[str, Any]]:
    found = await store.incident_details(redis, incident_id)
    assert found is not None
    return [e.data for e in found[2] if e.kind == "delivery"]


async def outbox_empty(redis: Redis) -> bool:
    pending = await redis.xpending(keys.OUTBOX_STREAM, keys.DELIVERY_GROUP)
    return (
        await redis.xlen(keys.OUTBOX_STREAM) == 0
        and await redis.zcard(keys.DELIVERY_RETRIES) == 0
        and pending["pending"] == 0
    )


@pytest.fixture
async def api(make_settings: SettingsFactory) -> AsyncIterator[Client]:
    app = create_app(make_settings(), run_workers=False)
    add_routes(app)
    async with TestClient(TestServer(app)) as client:
        yield client


async def dead_letters(api: Client) -> list[dict[str, Any]]:
    response = await api.get("/api/v1/deliveries/dead")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return list(body["dead"])


# --- webhook ------------------------------------------------------------------------------


async def test_webhook_arrives_signed_with_its_idempotency_key(
    aredis: Redis, receiver: Receiver
) -> None:
    incident = await seed_incident(aredis, 1)
    [n] = notify(incident)
    hook = webhook(receiver, headers={"Authorization": "Bearer hook-token"})
    await queue_now(aredis, [n])
    async with running(worker(aredis, hook)):
        await until(lambda: len(receiver.requests) == 1, what="one request")
        await eventually(lambda: outbox_empty(aredis), what="outbox drained")
    [request] = receiver.requests
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Triaged-Signature"] == f"sha256={expected}"
    assert request.headers["Idempotency-Key"] == n.key
    assert request.headers["X-Triaged-Event"] == "opened"
    assert request.headers["X-Triaged-Attempt"] == "1"
    assert request.headers["Authorization"] == "Bearer hook-token"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["idempotency_key"] == n.key
    assert body["incident"]["id"] == incident.id
    assert body["incident"]["url"] == f"https://triaged.example/incidents/{incident.id}"
    assert body["target"] == "database"
    assert body["message"]["title"] == "[P1] Opened: Database down"
    [entry] = await deliveries(aredis, incident.id)
    assert entry == {
        "channel": "ops-hook",
        "channel_type": "webhook",
        "target": "database",
        "transition": "opened",
        "attempt": 1,
        "outcome": "delivered",
        "status": 200,
        "error": None,
        "reason": "HTTP 200: ok",
        "idempotency_key": n.key,
        "next_attempt_at": None,
    }


async def test_notifications_queue_with_the_commit_or_not_at_all(aredis: Redis) -> None:
    incident = await seed_incident(aredis, 1)
    stale = Commit()
    stale.expect(keys.incident(incident.id), b"not what is stored")
    queue(stale, notify(incident))
    assert not await stale.apply(aredis)
    assert await aredis.xlen(keys.OUTBOX_STREAM) == 0
    fresh = Commit()
    fresh.expect(keys.incident(incident.id), store.encode(incident))
    queue(fresh, notify(incident, "opened", "ops-hook", "ops-chat"))
    assert await fresh.apply(aredis)
    assert await aredis.xlen(keys.OUTBOX_STREAM) == 2


async def test_a_notification_queued_twice_is_sent_once(aredis: Redis, receiver: Receiver) -> None:
    incident = await seed_incident(aredis, 1)
    await queue_now(aredis, notify(incident))
    await queue_now(aredis, notify(incident))  # e.g. a replayed pipeline batch
    delivery = worker(aredis, webhook(receiver))
    async with running(delivery):
        await eventually(lambda: outbox_empty(aredis), what="outbox drained")
    assert len(receiver.requests) == 1
    assert delivery.metrics.delivery_duplicates._value.get() == 1


async def test_one_incident_and_channel_in_order(aredis: Redis, receiver: Receiver) -> None:
    """A slow "opened" is not overtaken by the "resolved" queued after it."""
    incident = await seed_incident(aredis, 1)
    receiver.delay["opened"] = 0.3
    await queue_now(aredis, [*notify(incident, "opened"), *notify(incident, "resolved")])
    async with running(worker(aredis, webhook(receiver))):
        await until(lambda: len(receiver.requests) == 2, what="two requests")
    opened, resolved = sorted(receiver.requests, key=lambda r: r.at)
    assert opened.headers["X-Triaged-Event"] == "opened"
    assert resolved.at >= opened.at + 0.3


NAMES = ("hook-a", "hook-b")


async def outage(
    redis: Redis,
    receiver: Receiver,
    *,
    refused_for: float,
    failing_for: float,
    incidents: int,
    max_backoff: str,
) -> None:
    """The receiver is not listening, then answers 503, then recovers: every notification
    arrives, each once, and its timeline shows the failed attempts before the delivery."""
    await receiver.stop()
    sent: list[Notification] = []
    for number in range(1, incidents + 1):
        incident = await seed_incident(redis, number)
        sent += notify(incident, "opened", *NAMES)
    await queue_now(redis, sent)
    backoff = {"initial": "50ms", "max": max_backoff}
    hooks = [
        webhook(receiver, name, max_attempts=500, backoff=backoff) for name in ("hook-a", "hook-b")
    ]
    async with running(worker(redis, *hooks)):
        await asyncio.sleep(refused_for)
        receiver.status = 503
        await receiver.start()
        await asyncio.sleep(failing_for)
        assert not receiver.delivered()
        receiver.status = 200
        await eventually(lambda: outbox_empty(redis), within=10, what="outbox drained")
    assert receiver.delivered() == Counter({n.key: 1 for n in sent})
    for number in range(1, incidents + 1):
        outcomes = [e["outcome"] for e in await deliveries(redis, keys.incident_id(number))]
        assert outcomes.count("delivered") == 2
        assert outcomes.count("retry") >= 2
        assert "dead" not in outcomes


async def test_receiver_down_then_back_delivers_everything_once(
    aredis: Redis, receiver: Receiver
) -> None:
    await outage(
        aredis, receiver, refused_for=0.5, failing_for=0.5, incidents=5, max_backoff="250ms"
    )


async def test_always_failing_receiver_dead_letters_then_redrive_delivers(
    aredis: Redis, receiver: Receiver, api: Client
) -> None:
    incident = await seed_incident(aredis, 1)
    [n] = notify(incident)
    receiver.status = 500
    await queue_now(aredis, [n])
    async with running(worker(aredis, webhook(receiver, max_attempts=3))):
        [dead] = await eventually(lambda: dead_letters(api), what="a dead letter")
        assert len(receiver.requests) == 3
        assert dead["attempts"] == 3
        assert dead["cause"] == "exhausted"
        assert dead["reason"] == "gave up after 3 attempts: HTTP 500: no_service"
        assert dead["status"] == 500
        assert (dead["incident_id"], dead["idempotency_key"]) == (incident.id, n.key)
        receiver.status = 200
        response = await api.post(f"/api/v1/deliveries/dead/{dead['id']}/redrive")
        assert (response.status, await response.json()) == (200, {"redriven": 1})
        await until(lambda: bool(receiver.delivered()), what="delivered")
        await eventually(lambda: outbox_empty(aredis), what="outbox drained")
    assert receiver.delivered() == Counter({n.key: 1})
    assert await dead_letters(api) == []
    outcomes = [(e["attempt"], e["outcome"]) for e in await deliveries(aredis, incident.id)]
    assert outcomes == [(1, "retry"), (2, "retry"), (3, "dead"), (1, "delivered")]


async def test_a_400_dead_letters_at_once(aredis: Redis, receiver: Receiver, api: Client) -> None:
    incident = await seed_incident(aredis, 1)
    receiver.status = 400
    await queue_now(aredis, notify(incident))
    async with running(worker(aredis, webhook(receiver))):
        [dead] = await eventually(lambda: dead_letters(api), what="a dead letter")
    assert len(receiver.requests) == 1
    assert (dead["cause"], dead["attempts"], dead["status"]) == ("permanent", 1, 400)
    [entry] = await deliveries(aredis, incident.id)
    assert entry["outcome"] == "dead"
    assert entry["status"] == 400
    assert entry["reason"].startswith("not retryable: HTTP 400")


async def test_redrive_all_and_unknown_ids(aredis: Redis, receiver: Receiver, api: Client) -> None:
    receiver.status = 404
    sent = [n for i in (1, 2, 3) for n in notify(await seed_incident(aredis, i))]
    await queue_now(aredis, sent)
    async with running(worker(aredis, webhook(receiver))):
        await eventually(lambda: dead_count(aredis, 3), what="three dead letters")
        missing = await api.post("/api/v1/deliveries/dead/1-0/redrive")
        assert missing.status == 404
        assert (await missing.json())["errors"] == [
            {"field": "id", "message": "no dead letter '1-0'"}
        ]
        receiver.status = 200
        response = await api.post("/api/v1/deliveries/dead/redrive")
        assert await response.json() == {"redriven": 3}
        await until(lambda: len(receiver.delivered()) == 3, what="all delivered")
    assert await dead_letters(api) == []


async def dead_count(redis: Redis, size: int) -> bool:
    return bool(await redis.xlen(keys.OUTBOX_DEAD) == size)


async def test_dead_letter_api_pages_and_checks_auth(
    aredis: Redis, make_settings: SettingsFactory
) -> None:
    incident = await seed_incident(aredis, 1)
    await queue_now(aredis, notify(incident, "opened", "nowhere-1", "nowhere-2", "nowhere-3"))
    async with running(worker(aredis)):  # no channels: every notification is undeliverable
        await eventually(lambda: dead_count(aredis, 3), what="three dead letters")
    app = create_app(make_settings("auth:\n  api_tokens: [t0ken]\n"), run_workers=False)
    add_routes(app)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/api/v1/deliveries/dead")).status == 401
        auth = {"Authorization": "Bearer t0ken"}
        first = await (await client.get("/api/v1/deliveries/dead?limit=2", headers=auth)).json()
        rest = await client.get(f"/api/v1/deliveries/dead?cursor={first['next']}", headers=auth)
        second = await rest.json()
        assert second["next"] is None
        pages = [*first["dead"], *second["dead"]]
        assert (len(first["dead"]), len(second["dead"])) == (2, 1)
        ids = [tuple(int(part) for part in d["id"].split("-")) for d in pages]
        assert ids == sorted(ids, reverse=True)  # newest first, across pages
        assert sorted(d["channel"] for d in pages) == ["nowhere-1", "nowhere-2", "nowhere-3"]
        for dead in pages:
            assert dead["reason"] == (
                f"unknown channel {dead['channel']!r}: not in the configuration"
            )
            assert dead["cause"] == "unknown_channel"
        bad = await client.get("/api/v1/deliveries/dead?limit=0&x=1", headers=auth)
        assert bad.status == 400
        assert [e["field"] for e in (await bad.json())["errors"]] == ["x", "limit"]


# --- crashes and rate limits --------------------------------------------------------------


async def test_entries_of_a_crashed_worker_are_claimed_and_delivered(
    aredis: Redis, receiver: Receiver
) -> None:
    incident = await seed_incident(aredis, 1)
    await ensure_outbox(aredis)
    await queue_now(aredis, notify(incident))
    # A worker read the entry and died: no heartbeat key, never acknowledged.
    await aredis.xreadgroup(
        keys.DELIVERY_GROUP, "crashed-worker", {keys.OUTBOX_STREAM: ">"}, count=10
    )
    async with running(worker(aredis, webhook(receiver))):
        await until(lambda: len(receiver.delivered()) == 1, what="delivered")
        await eventually(lambda: outbox_empty(aredis), what="outbox drained")
    assert len(receiver.requests) == 1


async def test_an_entry_workers_keep_dying_on_is_dead_lettered(
    aredis: Redis, receiver: Receiver, api: Client
) -> None:
    incident = await seed_incident(aredis, 1)
    await ensure_outbox(aredis)
    await queue_now(aredis, notify(incident))
    await aredis.xreadgroup(keys.DELIVERY_GROUP, "crashed-1", {keys.OUTBOX_STREAM: ">"})
    [pending] = await aredis.xpending_range(
        keys.OUTBOX_STREAM, keys.DELIVERY_GROUP, min="-", max="+", count=1
    )
    await aredis.xclaim(
        keys.OUTBOX_STREAM, keys.DELIVERY_GROUP, "crashed-2", 0, [pending["message_id"]]
    )  # delivered twice now, and both consumers are gone
    async with running(worker(aredis, webhook(receiver), max_deliveries=2)):
        [dead] = await eventually(lambda: dead_letters(api), what="a dead letter")
    assert receiver.requests == []
    assert dead["cause"] == "crashed"
    assert dead["reason"] == "a worker stopped 2 times while delivering it"
    [entry] = await deliveries(aredis, incident.id)
    assert (entry["outcome"], entry["attempt"]) == ("dead", 0)


async def test_a_channel_rate_spaces_its_sends(aredis: Redis, receiver: Receiver) -> None:
    """10 per second: slots 100 ms apart. Slots further than ``max_rate_wait`` away are
    not waited for in the worker but put back, and still keep the spacing."""
    sent = [n for i in range(1, 7) for n in notify(await seed_incident(aredis, i))]
    await queue_now(aredis, sent)
    hook = webhook(receiver, rate={"per_second": 10, "burst": 1})
    delivery = worker(aredis, hook, max_rate_wait=0.25)
    async with running(delivery):
        await until(lambda: len(receiver.delivered()) == 6, what="all delivered")
    times = sorted(r.at for r in receiver.requests)
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.07
    assert delivery.metrics.delivery_deferred.labels("ops-hook", "rate_limited")._value.get() > 0
    assert receiver.delivered() == Counter({n.key: 1 for n in sent})


# --- Slack --------------------------------------------------------------------------------


async def test_slack_message_shape(aredis: Redis, receiver: Receiver) -> None:
    incident = await seed_incident(aredis, 1, title="Replication <!channel> lag")
    await queue_now(aredis, notify(incident, "escalated:2", "ops-chat"))
    chat = channel("ops-chat", "slack", url=receiver.url("/services/T0/B0/x"), backoff=FAST)
    async with running(worker(aredis, chat)):
        await until(lambda: len(receiver.requests) == 1, what="one request")
    [request] = receiver.requests
    assert request.path == "/services/T0/B0/x"
    payload = json.loads(request.body)
    assert payload["text"] == "[P1] Escalated to level 2: Replication &lt;!channel&gt; lag"
    summary, facts, context = payload["blocks"]
    link = f"https://triaged.example/incidents/{incident.id}"
    assert summary["text"]["text"] == (
        f"*<{link}|[P1] Replication &lt;!channel&gt; lag>*\nEscalated to level 2 for database"
    )
    assert [f["text"] for f in facts["fields"]] == [
        "*Priority*\nP1",
        "*Status*\ntriggered",
        "*Group*\ndatabase",
        f"*Incident*\n<{link}|{incident.id}>",
    ]
    assert context["elements"][0]["text"] == "escalated:2 · key `service=svc1`"


# --- e-mail -------------------------------------------------------------------------------


class Mail(msgspec.Struct, frozen=True):
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool


class Inbox:
    """An aiosmtpd handler keeping what it receives; refuses recipients in ``refuse``."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        mail = Mail(
            str(envelope.mail_from), list(envelope.rcpt_tos), message, session.ssl is not None
        )
        self.mails.append(mail)
        return "250 Message accepted"


@asynccontextmanager
async def smtp_server(**options: Any) -> AsyncIterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = unused_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    await asyncio.to_thread(controller.start)
    try:
        yield inbox, port
    finally:
        await asyncio.to_thread(controller.stop)


def mail_channel(port: int, **fields: Any) -> ChannelConfig:
    options: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "starttls": False,
        "sender": "triaged <triaged@ops.example>",
        "to": ["dba@example.com", "oncall@example.com"],
        "backoff": FAST,
    }
    return channel("dba-mail", "email", **(options | fields))


async def test_email_arrives_with_plain_text_and_html(aredis: Redis) -> None:
    incident = await seed_incident(aredis, 1, title="Disk <full> & slow")
    [n] = notify(incident, "opened", "dba-mail")
    await queue_now(aredis, [n])
    async with smtp_server() as (inbox, port), running(worker(aredis, mail_channel(port))):
        await until(lambda: len(inbox.mails) == 1, what="one mail")
        await eventually(lambda: outbox_empty(aredis), what="outbox drained")
    [mail] = inbox.mails
    assert mail.sender == "triaged@ops.example"
    assert mail.recipients == ["dba@example.com", "oncall@example.com"]
    message = mail.message
    assert message["Subject"] == "[P1] Opened: Disk <full> & slow"
    assert message["Message-ID"] == f"<{n.key}@ops.example>"
    assert message["X-Triaged-Idempotency-Key"] == n.key
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert "Incident: INC-1 (triggered)" in plain.get_content()
    assert html.get_content_type() == "text/html"
    assert "Disk &lt;full&gt; &amp; slow" in html.get_content()
    [entry] = await deliveries(aredis, incident.id)
    assert (entry["outcome"], entry["status"], entry["channel_type"]) == ("delivered", 250, "email")


async def test_a_stakeholders_mail_goes_to_their_address_with_what_was_written(
    aredis: Redis,
) -> None:
    incident = await seed_incident(aredis, 2)
    [n] = notify(incident, "update:1", "dba-mail", target="SUB-1")
    n = msgspec.structs.replace(n, address="cto@example.com", message="Failing over now")
    await queue_now(aredis, [n])
    async with smtp_server() as (inbox, port), running(worker(aredis, mail_channel(port))):
        await until(lambda: len(inbox.mails) == 1, what="one mail")
    [mail] = inbox.mails
    assert mail.recipients == ["cto@example.com"]
    assert mail.message["To"] == "cto@example.com"
    assert mail.message["Subject"] == "[P1] Update: Database down"
    plain, html = mail.message.iter_parts()
    assert "Failing over now" in plain.get_content()
    assert "Failing over now" in html.get_content()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp.pem", directory / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


async def test_email_over_starttls_with_a_private_ca(
    aredis: Redis, tls_files: tuple[Path, Path]
) -> None:
    cert_file, key_file = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    incident = await seed_incident(aredis, 1)
    await queue_now(aredis, notify(incident, "opened", "dba-mail"))
    tls = {"tls_context": context, "require_starttls": True}
    async with smtp_server(**tls) as (inbox, port):
        mail = mail_channel(port, starttls=True, ca_file=str(cert_file))
        async with running(worker(aredis, mail)):
            await until(lambda: len(inbox.mails) == 1, what="one mail")
    assert inbox.mails[0].tls


async def test_email_never_falls_back_to_clear_text_and_5xx_is_permanent(
    aredis: Redis, api: Client
) -> None:
    first, second = await seed_incident(aredis, 1), await seed_incident(aredis, 2)
    async with smtp_server() as (inbox, port):
        await queue_now(aredis, notify(first, "opened", "needs-tls"))
        await queue_now(aredis, notify(second, "opened", "dba-mail"))
        inbox.refuse = {
            "dba@example.com": "550 5.1.1 no such user",
            "oncall@example.com": "550 5.1.1 no such user",
        }
        channels = [
            mail_channel(port),
            channel_named(mail_channel(port, starttls=True), "needs-tls"),
        ]
        async with running(worker(aredis, *channels)):
            await eventually(lambda: dead_count(aredis, 2), what="two dead letters")
    assert inbox.mails == []
    by_channel = {d["channel"]: d for d in await dead_letters(api)}
    assert by_channel["needs-tls"]["cause"] == "permanent"
    assert "STARTTLS" in by_channel["needs-tls"]["reason"]
    assert by_channel["dba-mail"]["cause"] == "permanent"
    assert by_channel["dba-mail"]["status"] == 550


def channel_named(config: ChannelConfig, name: str) -> ChannelConfig:
    return msgspec.structs.replace(config, name=name)
