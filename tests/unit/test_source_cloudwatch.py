"""CloudWatch alarms through Amazon SNS HTTP(S) subscriptions, from AWS's documented
formats: the SNS envelope (Type, MessageId, TopicArn, Subject, Message, Timestamp,
signature fields, SubscribeURL) and the alarm JSON SNS carries as a string in Message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from daemon.sources import ADAPTERS
from tests.unit.source_support import NOW, accept, fields, only_alert, reject
from triage.alert import AlertStatus
from triage.fingerprint import key_fingerprint

TOPIC = "arn:aws:sns:eu-west-1:210987654321:triaged-alarms"


def alarm(state: str = "ALARM", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "AlarmName": "orders-api-5xx-rate",
        "AlarmDescription": "5xx responses of the orders API above 2%",
        "AWSAccountId": "210987654321",
        "AlarmConfigurationUpdatedTimestamp": "2025-06-01T09:12:44.010+0000",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 3 out of the last 3 datapoints were greater "
        "than the threshold (2.0).",
        "StateChangeTime": "2025-06-15T15:00:00.000+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:orders-api-5xx-rate",
        "OldStateValue": "OK",
        "OKActions": [TOPIC],
        "AlarmActions": [TOPIC],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "HTTPCode_Target_5XX_Count",
            "Namespace": "AWS/ApplicationELB",
            "StatisticType": "Statistic",
            "Statistic": "SUM",
            "Unit": None,
            "Dimensions": [
                {"value": "app/orders-api/50dc6c495c0c9188", "name": "LoadBalancer"},
                {"value": "targetgroup/orders/73e2d6bc24d8a067", "name": "TargetGroup"},
            ],
            "Period": 60,
            "EvaluationPeriods": 3,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 2.0,
            "TreatMissingData": "missing",
        },
    }
    body.update(overrides)
    return body


def notification(message: dict[str, Any] | list[Any] | str) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "5b1c0e2f-3d4a-5b6c-7d8e-9f0a1b2c3d4e",
        "TopicArn": TOPIC,
        "Subject": 'ALARM: "orders-api-5xx-rate" in EU (Ireland)',
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2025-06-15T15:00:00.512Z",
        "SignatureVersion": "1",
        "Signature": "bm90IGEgcmVhbCBzaWduYXR1cmU=",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService.pem",
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
    }


def confirmation() -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "Token": "2336412f37fb687f5d51e6e2425c464de",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
        "SubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
        "&TopicArn=arn:aws:sns:eu-west-1:210987654321:triaged-alarms&Token=2336412f",
        "Timestamp": "2025-06-15T14:59:00.000Z",
        "SignatureVersion": "1",
        "Signature": "bm90IGEgcmVhbCBzaWduYXR1cmU=",
        "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService.pem",
    }


FINGERPRINT = key_fingerprint("cloudwatch", "210987654321\nEU (Ireland)\norders-api-5xx-rate")


def test_sns_posts_text_plain_and_the_adapter_accepts_it() -> None:
    assert {"text/plain", "application/json"} <= ADAPTERS["cloudwatch"].content_types


def test_subscription_confirmation_is_returned_for_the_shell() -> None:
    received = accept("cloudwatch", confirmation())
    assert received.events == []
    assert received.subscribe_url is not None
    assert received.subscribe_url.startswith("https://sns.eu-west-1.amazonaws.com/")
    assert received.origin == TOPIC
    assert received.reply is not None
    assert received.reply["topic"] == TOPIC


def test_alarm_fires_with_labels_from_the_alarm() -> None:
    received = accept("cloudwatch", notification(alarm()))
    alert = only_alert(received)
    assert received.origin == TOPIC
    assert alert.status is AlertStatus.FIRING
    assert alert.fingerprint == FINGERPRINT
    assert alert.labels == {
        "LoadBalancer": "app/orders-api/50dc6c495c0c9188",
        "TargetGroup": "targetgroup/orders/73e2d6bc24d8a067",
        "account_id": "210987654321",
        "region": "EU (Ireland)",
        "namespace": "AWS/ApplicationELB",
        "metric_name": "HTTPCode_Target_5XX_Count",
        "alertname": "orders-api-5xx-rate",
        "severity": "warning",
    }
    assert alert.annotations["summary"] == "5xx responses of the orders API above 2%"
    assert alert.annotations["description"].startswith("Threshold Crossed")
    assert alert.annotations["alarm_arn"].endswith(":alarm:orders-api-5xx-rate")
    assert alert.starts_at == 1_749_999_600.0


def test_repeat_alarm_is_the_same_alert() -> None:
    first = only_alert(accept("cloudwatch", notification(alarm())))
    again = alarm(StateChangeTime="2025-06-15T15:30:00.000+0000", OldStateValue="ALARM")
    assert only_alert(accept("cloudwatch", notification(again))).fingerprint == first.fingerprint


def test_ok_resolves_at_the_state_change() -> None:
    ok = alarm("OK", StateChangeTime="2025-06-15T15:20:00.000+0000", OldStateValue="ALARM")
    alert = only_alert(accept("cloudwatch", notification(ok)))
    assert alert.status is AlertStatus.RESOLVED
    assert alert.fingerprint == FINGERPRINT
    assert alert.ends_at == 1_750_000_800.0


@pytest.mark.parametrize("old", ["OK", "ALARM"])
def test_insufficient_data_changes_nothing(old: str) -> None:
    received = accept("cloudwatch", notification(alarm("INSUFFICIENT_DATA", OldStateValue=old)))
    assert received.events == []
    assert received.origin == TOPIC


def test_unsubscribe_confirmation_creates_nothing() -> None:
    body = confirmation() | {"Type": "UnsubscribeConfirmation"}
    assert accept("cloudwatch", body).events == []


def test_missing_optional_fields_composite_alarm_and_null_description() -> None:
    composite = {
        "AlarmName": "checkout-degraded",
        "AlarmDescription": None,
        "NewStateValue": "ALARM",
        "StateChangeTime": "2025-06-15T15:00:00Z",
        "AlarmRule": 'ALARM("orders-api-5xx-rate") OR ALARM("payments-latency")',
    }
    alert = only_alert(accept("cloudwatch", notification(composite)))
    assert alert.labels == {"alertname": "checkout-degraded", "severity": "warning"}
    assert alert.annotations["summary"] == "checkout-degraded is ALARM"


@pytest.mark.parametrize(
    "changed",
    ["2025-06-15T15:00:00.000+0000", "2025-06-15T17:00:00+02:00", "2025-06-15T15:00:00Z"],
)
def test_time_zones(changed: str) -> None:
    alert = only_alert(accept("cloudwatch", notification(alarm(StateChangeTime=changed))))
    assert alert.starts_at == 1_749_999_600.0


def test_unicode_and_numeric_strings() -> None:
    body = alarm(AlarmName="Bestellungen-5xx-Überlauf", AWSAccountId="000000000042")
    body["Trigger"]["Dimensions"] = [{"name": "ShardId", "value": "0007"}]
    alert = only_alert(accept("cloudwatch", notification(body)))
    assert alert.labels["alertname"] == "Bestellungen-5xx-Überlauf"
    assert alert.labels["ShardId"] == "0007"
    assert alert.labels["account_id"] == "000000000042"


def test_hundreds_of_dimensions() -> None:
    body = alarm()
    body["Trigger"]["Dimensions"] = [{"name": f"d{i}", "value": str(i)} for i in range(200)]
    assert len(only_alert(accept("cloudwatch", notification(body))).labels) == 206
    body["Trigger"]["Dimensions"] = [{"name": f"d{i}", "value": str(i)} for i in range(300)]
    assert fields(reject("cloudwatch", notification(body))) == {"Message.labels"}


def test_received_at_is_receipt() -> None:
    alert = only_alert(accept("cloudwatch", notification(alarm()), received_at=NOW + 5))
    assert alert.received_at == NOW + 5


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({k: v for k, v in notification(alarm()).items() if k != "TopicArn"}, {"TopicArn"}),
        (notification(alarm()) | {"Type": "Publish"}, {"Type"}),
        ({k: v for k, v in confirmation().items() if k != "SubscribeURL"}, {"SubscribeURL"}),
        (notification("CPU is high on db-1"), {"Message"}),
        (notification(alarm("BROKEN")), {"Message.NewStateValue"}),
        (notification({"NewStateValue": "OK"}), {"Message.AlarmName", "Message.StateChangeTime"}),
        (notification(alarm(StateChangeTime="soon")), {"Message.StateChangeTime"}),
        (
            notification(alarm(Trigger={"Dimensions": [{"name": "x"}]})),
            {"Message.Trigger.Dimensions[0].value"},
        ),
        (notification(["not", "an", "alarm"]), {"Message"}),
    ],
)
def test_invalid_deliveries_name_the_field(body: Any, named: set[str]) -> None:
    assert fields(reject("cloudwatch", body)) == named
