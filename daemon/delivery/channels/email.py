"""E-mail over SMTP: one message with a plain-text and an HTML part.

``starttls: true`` (the default) requires STARTTLS: a relay that does not offer it fails
the attempt instead of silently receiving the page in clear text. ``ca_file`` trusts a
private CA, as internal relays often use one.

The Message-ID is derived from the idempotency key, so every attempt and redrive of one
notification carries the same id and mail clients and archives collapse duplicates.
``Auto-Submitted: auto-generated`` (RFC 3834) keeps vacation responders from replying.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, parseaddr

import aiosmtplib

from daemon.config_types import seconds
from daemon.delivery.config import ChannelConfig, required, secret
from daemon.delivery.outbox import Notification
from daemon.delivery.retry import SendResult, Verdict, classify_smtp, transient
from daemon.delivery.templates import Rendered


def message_id(key: str, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "triaged.invalid"
    return f"<{key}@{domain}>"


def email_message(
    notification: Notification, message: Rendered, *, key: str, sender: str, to: list[str]
) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(notification.created_at, usegmt=True)
    mail["Message-ID"] = message_id(key, sender)
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Triaged-Idempotency-Key"] = key
    mail["X-Triaged-Event"] = notification.transition
    mail["X-Triaged-Incident"] = notification.incident_id
    mail.set_content(message.body)
    if message.html is not None:
        mail.add_alternative(message.html, subtype="html")
    return mail


class EmailSender:
    def __init__(self, config: ChannelConfig):
        self._host = required(config, "smtp_host")
        self._port = config.smtp_port
        self._starttls = config.starttls
        self._ca_file = config.ca_file
        self._username = config.username
        self._password = secret(config, "password")
        self._sender = required(config, "sender")
        self._to = list(config.to)
        self._timeout = seconds(config.timeout)

    async def send(
        self, notification: Notification, message: Rendered, *, key: str, attempt: int
    ) -> SendResult:
        to = [notification.address] if notification.address else self._to
        mail = email_message(notification, message, key=key, sender=self._sender, to=to)
        try:
            refused, reply = await aiosmtplib.send(
                mail,
                hostname=self._host,
                port=self._port,
                start_tls=self._starttls,
                cert_bundle=self._ca_file,
                username=self._username,
                password=self._password,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return _all_refused(exc.recipients)
        except aiosmtplib.SMTPResponseException as exc:
            return classify_smtp(exc.code, exc.message)
        except OSError as exc:  # connect, disconnect, timeout (aiosmtplib's are OSErrors)
            return transient(f"{type(exc).__name__}: {exc}")
        except aiosmtplib.SMTPException as exc:
            # What is left is the relay lacking what the channel requires (STARTTLS,
            # AUTH): a configuration problem that retrying will not fix.
            return SendResult(verdict=Verdict.DEAD, reason=f"SMTP: {exc}")
        reason = f"SMTP accepted: {reply}".strip()
        if refused:
            reason += "; refused: " + ", ".join(
                f"{address} ({response.code})" for address, response in refused.items()
            )
        return SendResult(verdict=Verdict.DELIVERED, reason=reason, status=250)


def _all_refused(recipients: list[aiosmtplib.SMTPRecipientRefused]) -> SendResult:
    """Retry if any refusal was transient (4xx): that recipient may accept later."""
    codes = [r.code for r in recipients]
    detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in recipients)
    return classify_smtp(min(codes, default=550), f"every recipient refused ({detail})")
