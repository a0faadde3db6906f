"""What each channel sends, built without the network: templates, escaping, payloads."""

from __future__ import annotations

import hashlib
import hmac
import json

import msgspec
import pytest

from daemon.delivery.channels.email import email_message
from daemon.delivery.channels.slack import slack_payload
from daemon.delivery.channels.webhook import signature, webhook_body
from daemon.delivery.templates import SAMPLE, ChannelTemplates, event_label

HOSTILE = msgspec.structs.replace(
    SAMPLE,
    incident=msgspec.structs.replace(
        SAMPLE.incident, title="<!channel> disk & <b>full</b>\r\nBcc: victim@example.com"
    ),
)


@pytest.mark.parametrize(
    ("transition", "label"),
    [
        ("opened", "Opened"),
        ("escalated:2", "Escalated to level 2"),
        ("escalated:3#1", "Escalated to level 3"),
        ("resolved#2", "Resolved"),
        ("stakeholder_update", "Stakeholder update"),
    ],
)
def test_event_labels(transition: str, label: str) -> None:
    assert event_label(msgspec.structs.replace(SAMPLE, transition=transition)) == label


def test_default_title_and_body_show_the_essentials() -> None:
    message = ChannelTemplates("webhook").render(SAMPLE)
    assert message.title == "[P1] Escalated to level 2: Database down"
    for text in ("INC-1 (triggered)", "Priority: P1", "Group:    database", "Link:     https://"):
        assert text in message.body
    assert message.html is None


def test_overrides_replace_only_their_part() -> None:
    templates = ChannelTemplates("webhook", title="{{ incident.id }} {{ event }}")
    message = templates.render(SAMPLE)
    assert message.title == "INC-1 escalated"
    assert message.body == ChannelTemplates("webhook").render(SAMPLE).body


def test_titles_are_one_bounded_line() -> None:
    long = msgspec.structs.replace(
        SAMPLE, incident=msgspec.structs.replace(SAMPLE.incident, title="x\n" * 400)
    )
    title = ChannelTemplates("email").render(long).title
    assert "\n" not in title
    assert len(title) == 250


def test_a_custom_template_failing_at_send_time_falls_back_to_the_default() -> None:
    templates = ChannelTemplates("webhook", body="Runbook: {{ incident.links.wiki }}")
    message = templates.render(SAMPLE)
    assert message.body == ChannelTemplates("webhook").render(SAMPLE).body
    assert message.template_error == "'dict object' has no attribute 'wiki'"


def test_slack_escapes_values_but_not_template_text() -> None:
    templates = ChannelTemplates("slack", title="<!here> {{ incident.title }}")
    message = templates.render(HOSTILE)
    assert message.title.startswith("<!here> &lt;!channel&gt; disk &amp; &lt;b&gt;full&lt;/b&gt;")
    assert "<!channel>" not in json.dumps(slack_payload(HOSTILE, message))


def test_slack_payload_shape() -> None:
    payload = slack_payload(SAMPLE, ChannelTemplates("slack").render(SAMPLE))
    assert payload["text"] == "[P1] Escalated to level 2: Database down"
    body, facts, context = payload["blocks"]
    assert body["type"] == "section"
    assert body["text"]["text"].startswith(
        "*<https://triaged.example/incidents/INC-1|[P1] Database down>*"
    )
    assert [f["text"] for f in facts["fields"]] == [
        "*Priority*\nP1",
        "*Status*\ntriggered",
        "*Group*\ndatabase",
        "*Incident*\n<https://triaged.example/incidents/INC-1|INC-1>",
    ]
    assert context["elements"][0]["text"] == "escalated:2 · key `service=db,environment=prod`"


def test_html_part_escapes_values() -> None:
    html = ChannelTemplates("email").render(HOSTILE).html
    assert html is not None
    assert "&lt;!channel&gt; disk &amp; &lt;b&gt;full&lt;/b&gt;" in html
    assert "<b>full</b>" not in html


def test_email_message_parts_and_headers() -> None:
    message = ChannelTemplates("email").render(HOSTILE)
    mail = email_message(
        HOSTILE, message, key=HOSTILE.key, sender="triaged <t@ops.example>", to=["a@x", "b@y"]
    )
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert mail["Message-ID"] == f"<{HOSTILE.key}@ops.example>"
    assert mail["To"] == "a@x, b@y"
    assert mail["Bcc"] is None  # the CRLF in the title did not become a header
    assert mail["X-Triaged-Event"] == "escalated:2"


def test_webhook_body_is_the_notification_and_the_message() -> None:
    message = ChannelTemplates("webhook").render(SAMPLE)
    body = json.loads(webhook_body(SAMPLE, message, SAMPLE.key))
    assert body["idempotency_key"] == SAMPLE.key
    assert body["transition"] == "escalated:2"
    assert body["event"] == "escalated"
    assert body["created_at"] == "1970-01-01T00:00:00Z"
    assert body["incident"] == msgspec.to_builtins(SAMPLE.incident)
    assert body["message"] == {"title": message.title, "text": message.body}
    assert body["note"] == ""


def test_signature_is_github_style_hmac_sha256() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert signature(b"k", body) == f"sha256={expected}"
    assert signature(b"k", body + b" ") != signature(b"k", body)
