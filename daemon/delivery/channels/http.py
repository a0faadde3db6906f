"""HTTP delivery shared by the webhook and Slack channels: one session, one error policy.

Every channel that POSTs goes through ``HttpClient.post``, so there is one place that
decides what a refused connection, a timeout or a 503 means. Redirects are not followed
(see ``classify_http``). The session honours ``HTTPS_PROXY``/``NO_PROXY``, which is how
a daemon inside a private network usually reaches Slack.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Final

import aiohttp

from daemon.delivery.retry import (
    SendResult,
    Verdict,
    classify_http,
    parse_retry_after,
    transient,
)

USER_AGENT: Final = "triaged-delivery/1"
_DETAIL_BYTES: Final = 200  # enough of a receiver's answer to say why, bounded


class HttpClient:
    """The aiohttp session every HTTP channel of a worker shares (one connection pool,
    one close). Give it a session to share one the application already has."""

    def __init__(self, session: aiohttp.ClientSession | None = None):
        self._session = session
        self._owned = session is None

    async def __aenter__(self) -> HttpClient:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT}, trust_env=True
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._owned and self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, within: float
    ) -> SendResult:
        """POST and classify; never raises for the receiver's or the network's failure.

        Reasons never quote the URL: a Slack webhook URL is a credential, and reasons
        end up on the timeline and in dead letters.
        """
        if self._session is None:
            raise RuntimeError("HttpClient.post outside 'async with HttpClient()'")
        try:
            async with self._session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=within),
                allow_redirects=False,
            ) as response:
                raw = await response.content.read(_DETAIL_BYTES)
                detail = " ".join(raw.decode(errors="replace").split())
                return classify_http(
                    response.status,
                    detail=detail,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
        except TimeoutError:
            return transient(f"no answer within {within:g}s")
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
            return SendResult(verdict=Verdict.DEAD, reason="invalid URL")
        except aiohttp.ClientError as exc:
            return transient(f"{type(exc).__name__}: {exc}")
