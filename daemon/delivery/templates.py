"""Message text: sandboxed Jinja2 templates, with defaults for each channel type.

Templates come from the config file, but the values they show come from alerts, that is
from anyone allowed to post one. So templates run in Jinja2's immutable sandbox (no
access to Python internals, no mutation), and every value is escaped for its medium:
Slack mrkdwn (``&``, ``<``, ``>``, so an alert titled ``<!channel>`` cannot page a whole
workspace), HTML for the e-mail part (autoescape), nothing for plain text. Literal text
in a template is not escaped, so an operator can still write ``<!here>`` on purpose.

Undefined names are errors (StrictUndefined), and ``validate_channels`` test-renders
every configured template, so a typo fails when the config loads. If a custom template
still fails at send time (say, a link it expects is missing), the channel's default
template is used and the failure is noted on the timeline: a page must not be lost to
a template.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, Literal

import jinja2
import msgspec
import structlog
from jinja2.sandbox import ImmutableSandboxedEnvironment

from daemon.delivery.outbox import IncidentSummary, Notification

log = structlog.get_logger("triaged.delivery")

Part = Literal["title", "body", "html"]
Flavor = Literal["plain", "slack", "html"]

MAX_TITLE: Final = 250


class Rendered(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    body: str
    html: str | None = None
    template_error: str | None = None


def slack_escape(value: object) -> str:
    """The three characters Slack's mrkdwn wants escaped in text it should not parse."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _environment(flavor: Flavor) -> ImmutableSandboxedEnvironment:
    options: dict[str, Any] = {
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
        "autoescape": flavor == "html",
    }
    if flavor == "slack":
        options["finalize"] = slack_escape
    return ImmutableSandboxedEnvironment(**options)


_ENVIRONMENTS: Final[dict[Flavor, ImmutableSandboxedEnvironment]] = {
    flavor: _environment(flavor) for flavor in ("plain", "slack", "html")
}

# Which escaping each part of each channel type gets.
_FLAVORS: Final[dict[str, dict[Part, Flavor]]] = {
    "webhook": {"title": "plain", "body": "plain"},
    "slack": {"title": "slack", "body": "slack"},
    "email": {"title": "plain", "body": "plain", "html": "html"},
}

_TITLE = "[{{ incident.priority }}] {{ event_label }}: {{ incident.title }}"

_PLAIN_BODY = """\
{{ event_label }}: {{ incident.title }}
{% if notification.message %}

{{ notification.message }}
{% endif %}

Incident: {{ incident.id }} ({{ incident.status }})
Priority: {{ incident.priority }}
Group:    {{ incident.group or "-" }}
{% if notification.target %}
Target:   {{ notification.target }}
{% endif %}
Key:      {{ incident.key }}
{% if incident.url %}
Link:     {{ incident.url }}
{% endif %}
{% for name, link in incident.links.items() %}
{{ name }}: {{ link }}
{% endfor %}
"""

_SLACK_BODY = """\
{% if incident.url %}
*<{{ incident.url }}|[{{ incident.priority }}] {{ incident.title }}>*
{% else %}
*[{{ incident.priority }}] {{ incident.title }}*
{% endif %}
{{ event_label }}{{ " for " ~ notification.target if notification.target else "" }}
{% if notification.message %}
{{ notification.message }}
{% endif %}
{% if incident.links %}
{% for name, link in incident.links.items() -%}
<{{ link }}|{{ name }}>{% if not loop.last %} · {% endif %}
{%- endfor %}

{% endif %}
"""

_HTML = """\
<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2 style="margin: 0 0 12px">[{{ incident.priority }}] {{ event_label }}: {{ incident.title }}</h2>
{% if notification.message %}
<p style="white-space: pre-wrap">{{ notification.message }}</p>
{% endif %}
<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">Incident</th><td>
{% if incident.url %}
<a href="{{ incident.url }}">{{ incident.id }}</a>
{% else %}
{{ incident.id }}
{% endif %}
</td></tr>
<tr><th align="left">Status</th><td>{{ incident.status }}</td></tr>
<tr><th align="left">Priority</th><td>{{ incident.priority }}</td></tr>
<tr><th align="left">Group</th><td>{{ incident.group or "-" }}</td></tr>
{% if notification.target %}
<tr><th align="left">Target</th><td>{{ notification.target }}</td></tr>
{% endif %}
<tr><th align="left">Key</th><td><code>{{ incident.key }}</code></td></tr>
{% for name, link in incident.links.items() %}
<tr><th align="left">{{ name }}</th><td><a href="{{ link }}">{{ link }}</a></td></tr>
{% endfor %}
</table>
</body></html>
"""

DEFAULTS: Final[dict[str, dict[Part, str]]] = {
    "webhook": {"title": _TITLE, "body": _PLAIN_BODY},
    "slack": {"title": _TITLE, "body": _SLACK_BODY},
    "email": {"title": _TITLE, "body": _PLAIN_BODY, "html": _HTML},
}

_LABELS: Final = {
    "opened": "Opened",
    "reopened": "Reopened",
    "escalated": "Escalated",
    "acknowledged": "Acknowledged",
    "reassigned": "Reassigned",
    "resolved": "Resolved",
    "closed": "Closed",
    "update": "Update",
    "update_due": "Update overdue",
    "target_at_risk": "Target at risk",
    "target_breached": "Target breached",
}


def event_label(notification: Notification) -> str:
    """``Escalated to level 2`` for ``escalated:2``; a capitalised kind otherwise."""
    kind = notification.event
    label = _LABELS.get(kind, kind.replace("_", " ").capitalize())
    detail = notification.transition.split("#", 1)[0].partition(":")[2]
    if kind == "escalated" and detail.isdigit():
        return f"{label} to level {detail}"
    return label


def context(notification: Notification) -> dict[str, Any]:
    """What templates see: ``incident``, ``notification``, ``event``, ``event_label``."""
    n = notification
    return {
        "incident": msgspec.to_builtins(n.incident),
        "notification": {
            "transition": n.transition,
            "event": n.event,
            "target": n.target,
            "channel": n.channel,
            "message": n.message,
            "idempotency_key": n.key,
            "created_at": datetime.fromtimestamp(n.created_at, UTC),
        },
        "event": n.event,
        "event_label": event_label(n),
    }


SAMPLE: Final = Notification(
    incident_id="INC-1",
    transition="escalated:2",
    target="database",
    channel="sample",
    incident=IncidentSummary(
        id="INC-1",
        key="service=db,environment=prod",
        title="Database down",
        status="triggered",
        priority="P1",
        category="availability",
        group="database",
        escalation_level=2,
        url="https://triaged.example/incidents/INC-1",
        links={"runbook": "https://runbooks.example/db"},
    ),
    created_at=0.0,
)


def _compile(channel_type: str, part: Part, source: str) -> jinja2.Template:
    flavor = _FLAVORS[channel_type].get(part, "plain")
    return _ENVIRONMENTS[flavor].from_string(source)


def check_template(channel_type: str, part: Part, source: str) -> None:
    """Compile ``source`` and render it for a sample notification; raises what the
    template raises (``jinja2.TemplateError`` for syntax, undefined names and sandbox
    violations, but also e.g. ``ZeroDivisionError``)."""
    _compile(channel_type, part, source).render(context(SAMPLE))


def _one_line(text: str) -> str:
    """Titles become subjects and headers: no line breaks, bounded length."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_TITLE else line[: MAX_TITLE - 1] + "…"


class ChannelTemplates:
    """A channel's compiled templates: its overrides over its type's defaults."""

    def __init__(
        self,
        channel_type: str,
        *,
        title: str | None = None,
        body: str | None = None,
        html: str | None = None,
    ):
        defaults = DEFAULTS[channel_type]
        overrides: dict[Part, str | None] = {"title": title, "body": body, "html": html}
        self._defaults = {part: _compile(channel_type, part, s) for part, s in defaults.items()}
        self._templates = {
            part: _compile(channel_type, part, overrides[part] or source)
            for part, source in defaults.items()
        }
        self._custom = any(overrides[part] for part in defaults)

    def render(self, notification: Notification) -> Rendered:
        values = context(notification)
        try:
            return self._render(self._templates, values)
        except Exception as exc:  # template code can raise anything, not only TemplateError
            if not self._custom:
                raise
            log.warning(
                "delivery_template_failed",
                incident_id=notification.incident_id,
                channel=notification.channel,
                error=str(exc),
            )
            fallback = self._render(self._defaults, values)
            return msgspec.structs.replace(fallback, template_error=str(exc))

    @staticmethod
    def _render(templates: dict[Part, jinja2.Template], values: dict[str, Any]) -> Rendered:
        html = templates.get("html")
        return Rendered(
            title=_one_line(templates["title"].render(values)),
            body=templates["body"].render(values).strip() + "\n",
            html=None if html is None else html.render(values),
        )
