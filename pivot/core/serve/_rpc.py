"""JSON-RPC 2.0 over newline-delimited JSON: parsing requests, building replies.

One message per line, UTF-8. Batches (a JSON array) are refused: every client we serve
(editors, notebooks, agents) sends one request at a time, and one line per request keeps a
request that fails to parse from taking its neighbours down with it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

# Codes of the JSON-RPC 2.0 specification.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Pivot's own, in the range the specification leaves to servers (-32000 to -32099).
PIVOT_ERROR = -32000
RUN_IN_PROGRESS = -32001
UNKNOWN_STAGE = -32002
NOT_AVAILABLE = -32003

RequestId = str | int | None


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    params: dict[str, Any]
    id: RequestId
    #: A notification (no ``id`` member) gets no reply, not even an error.
    notification: bool


def parse_request(line: bytes) -> Request | dict[str, Any]:
    """One line as a request, or else the error reply to send (with the request's id when
    one could be read)."""
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        return error(None, PARSE_ERROR, f"parse error: {exc}")
    if isinstance(message, list):
        return error(None, INVALID_REQUEST, "batches are not supported; send one request per line")
    if not isinstance(message, dict):
        return error(None, INVALID_REQUEST, "a request must be a JSON object")
    request_id = message.get("id")
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, str | int)
    ):
        return error(None, INVALID_REQUEST, "id must be a string, an integer or null")
    if message.get("jsonrpc") != "2.0":
        return error(request_id, INVALID_REQUEST, 'jsonrpc must be "2.0"')
    method = message.get("method")
    if not isinstance(method, str):
        return error(request_id, INVALID_REQUEST, "method must be a string")
    params = message.get("params", {})
    if not isinstance(params, dict):
        return error(request_id, INVALID_PARAMS, "params must be an object (named params)")
    return Request(method, params, request_id, "id" not in message)


def encode(message: dict[str, Any]) -> bytes:
    """One message as a line; values JSON cannot hold are written as strings."""
    return (json.dumps(message, default=str, ensure_ascii=False) + "\n").encode()


def result(request_id: RequestId, value: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": value}


def error(request_id: RequestId, code: int, message: str, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        body["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": body}


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}
