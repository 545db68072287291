"""Parsing one JSON-RPC line: what is a request, and the error reply for what is not."""

from __future__ import annotations

import pytest

from pivot.core.serve import _rpc


def test_a_request_and_a_notification() -> None:
    request = _rpc.parse_request(b'{"jsonrpc": "2.0", "id": "a", "method": "status"}')
    assert request == _rpc.Request("status", {}, "a", notification=False)
    note = _rpc.parse_request(b'{"jsonrpc": "2.0", "method": "cancel", "params": {}}')
    assert isinstance(note, _rpc.Request) and note.notification


@pytest.mark.parametrize(
    ("line", "code", "reply_id"),
    [
        (b"{oops", _rpc.PARSE_ERROR, None),
        (b"\xff\xfe", _rpc.PARSE_ERROR, None),
        (b"[]", _rpc.INVALID_REQUEST, None),
        (b"3", _rpc.INVALID_REQUEST, None),
        (b'{"jsonrpc": "2.0", "id": true, "method": "x"}', _rpc.INVALID_REQUEST, None),
        (b'{"jsonrpc": "2.0", "id": 1.5, "method": "x"}', _rpc.INVALID_REQUEST, None),
        (b'{"jsonrpc": "1.0", "id": 4, "method": "x"}', _rpc.INVALID_REQUEST, 4),
        (b'{"jsonrpc": "2.0", "id": 5, "method": 7}', _rpc.INVALID_REQUEST, 5),
        (b'{"jsonrpc": "2.0", "id": 6, "method": "x", "params": [1]}', _rpc.INVALID_PARAMS, 6),
    ],
)
def test_what_is_not_a_request(line: bytes, code: int, reply_id: object) -> None:
    reply = _rpc.parse_request(line)
    assert isinstance(reply, dict)
    assert reply["error"]["code"] == code
    assert reply["id"] == reply_id
    assert reply["jsonrpc"] == "2.0"


def test_encoded_messages_are_one_line() -> None:
    data = _rpc.encode(_rpc.result(1, {"text": "a\nb", "path": object()}))
    assert data.endswith(b"\n") and data.count(b"\n") == 1
