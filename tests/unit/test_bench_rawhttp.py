"""The benchmark's minimal HTTP/1.1 response parser (``loadgen --client raw``)."""

from __future__ import annotations

import pytest

from bench.rawhttp import ProtocolError, parse_response

ACCEPTED = (
    b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"Content-Length: 15\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n"
    b'{"accepted": 1}'
)


def test_content_length_body_and_leftover_bytes() -> None:
    buffer = bytearray(ACCEPTED + b"HTTP/1.1 2")
    parsed = parse_response(buffer)
    assert parsed is not None
    response, used = parsed
    assert (response.status, response.body, response.keep_alive) == (202, b'{"accepted": 1}', True)
    assert response.retry_after is None
    assert buffer[used:] == b"HTTP/1.1 2"


def test_incomplete_responses_wait_for_more_bytes() -> None:
    for cut in (5, ACCEPTED.index(b"\r\n\r\n") + 2, len(ACCEPTED) - 1):
        assert parse_response(bytearray(ACCEPTED[:cut])) is None


def test_retry_after_and_connection_close() -> None:
    raw = (
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\nConnection: close\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    parsed = parse_response(bytearray(raw))
    assert parsed is not None
    response, used = parsed
    assert (response.status, response.retry_after, response.keep_alive) == (503, "2", False)
    assert used == len(raw)


def test_chunked_body() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n"
    )
    parsed = parse_response(bytearray(raw))
    assert parsed is not None
    assert parsed[0].body == b"Wikipedia"
    assert parsed[1] == len(raw)
    assert parse_response(bytearray(raw[:-2])) is None


def test_garbage_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        parse_response(bytearray(b"SSH-2.0-OpenSSH\r\n\r\n"))
