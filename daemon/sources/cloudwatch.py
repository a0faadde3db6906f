"""CloudWatch alarms delivered by Amazon SNS to an HTTP(S) subscription.

SNS posts JSON with ``Content-Type: text/plain``. A ``SubscriptionConfirmation`` creates
no alert: it returns the ``SubscribeURL`` for the shell to log, expose and (when
configured) visit. A ``Notification`` carries the alarm as a JSON string in ``Message``.
Every result names the topic ARN as its ``origin`` so the shell can refuse topics that
are not allow-listed.

The alarm's identity is its account, region and name (unique in CloudWatch), so each
state change of one alarm folds into one alert. ``ALARM`` fires, ``OK`` resolves, both at
``StateChangeTime``. ``INSUFFICIENT_DATA`` changes nothing: it means CloudWatch cannot
tell, not that the problem is gone or has begun. Resolving on it would close incidents
exactly when a failed instance stops sending metrics; firing on it would page for every
new alarm (they all start there) and every gap in a metric. Teams that want missing data
to alert set ``TreatMissingData: breaching``, and CloudWatch then sends ``ALARM``.

SNS message signatures are not verified: that needs the signing certificate fetched from
AWS, and adapters do no network I/O. Protect the URL with a per-source credential (SNS
supports basic auth in the subscription URL) and the topic allow-list.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from daemon.sources.common import (
    Limits,
    PayloadError,
    Received,
    check_sizes,
    decode,
    decode_at,
    make_alert,
    non_empty,
    parse_timestamp,
    severity_labels,
)
from daemon.validation import FieldError
from triage.fingerprint import key_fingerprint

Required = Annotated[str, msgspec.Meta(min_length=1)]


class SnsMessage(msgspec.Struct):
    """The SNS envelope; its signature fields are ignored (see the module docstring)."""

    Type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
    TopicArn: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    Message: str
    SubscribeURL: str | None = None


class Dimension(msgspec.Struct):
    name: str
    value: str


class AlarmTrigger(msgspec.Struct):
    MetricName: str | None = None
    Namespace: str | None = None
    Dimensions: list[Dimension] | None = None


class AlarmMessage(msgspec.Struct):
    AlarmName: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    NewStateValue: Literal["ALARM", "OK", "INSUFFICIENT_DATA"]
    StateChangeTime: Required
    AWSAccountId: str = ""
    Region: str = ""
    AlarmDescription: str | None = None
    AlarmArn: str | None = None
    NewStateReason: str | None = None
    OldStateValue: str | None = None
    Trigger: AlarmTrigger | None = None


def parse(body: bytes, received_at: float, limits: Limits) -> Received:
    envelope = decode(body, SnsMessage)
    topic = envelope.TopicArn
    if envelope.Type == "SubscriptionConfirmation":
        if not envelope.SubscribeURL:
            raise PayloadError([FieldError("SubscribeURL", "is required to confirm")])
        return Received(
            events=[],
            subscribe_url=envelope.SubscribeURL,
            origin=topic,
            reply={"accepted": 0, "subscription": "pending confirmation", "topic": topic},
        )
    if envelope.Type == "UnsubscribeConfirmation":
        return Received(
            events=[], origin=topic, reply={"accepted": 0, "unsubscribed": True, "topic": topic}
        )
    alarm = decode_at(envelope.Message, AlarmMessage, "Message")
    try:
        changed_at = parse_timestamp(alarm.StateChangeTime)
    except ValueError as exc:
        raise PayloadError([FieldError("Message.StateChangeTime", str(exc))]) from exc
    if alarm.NewStateValue == "INSUFFICIENT_DATA":
        return Received(
            events=[], origin=topic, reply={"accepted": 0, "ignored": "INSUFFICIENT_DATA"}
        )
    trigger = alarm.Trigger or AlarmTrigger()
    labels = {
        **{d.name: d.value for d in trigger.Dimensions or [] if d.name},
        **non_empty(
            {
                "account_id": alarm.AWSAccountId,
                "region": alarm.Region,
                "namespace": trigger.Namespace,
                "metric_name": trigger.MetricName,
            }
        ),
        "alertname": alarm.AlarmName,
        **severity_labels(None),
    }
    annotations = non_empty(
        {
            "summary": alarm.AlarmDescription or f"{alarm.AlarmName} is {alarm.NewStateValue}",
            "description": alarm.NewStateReason,
            "state": alarm.NewStateValue,
            "old_state": alarm.OldStateValue,
            "alarm_arn": alarm.AlarmArn,
            "topic_arn": topic,
        }
    )
    errors = check_sizes("Message", labels, annotations, limits)
    if errors:
        raise PayloadError(errors)
    firing = alarm.NewStateValue == "ALARM"
    alert = make_alert(
        fingerprint=key_fingerprint(
            "cloudwatch", f"{alarm.AWSAccountId}\n{alarm.Region}\n{alarm.AlarmName}"
        ),
        source="cloudwatch",
        firing=firing,
        labels=labels,
        annotations=annotations,
        received_at=received_at,
        starts_at=changed_at if firing else None,
        ends_at=None if firing else changed_at,
    )
    return Received(events=[alert], origin=topic)
