"""Strict JSON for request bodies: what the standard library would let through, refused.

`json.loads` accepts duplicate keys (the last one wins, so two parsers can read two different
documents from the same bytes), `NaN` and `Infinity`, numbers of thousands of digits, escaped
lone surrogates (which no UTF-8 encoder can write back), and nesting as deep as its recursion
limit. Every JSON request body passes `loads_strict` first, in the `StrictJSON` middleware, so
the application only ever parses documents that mean one thing; anything else gets a 422
problem document naming the reason, never quoting the body, and a `request_refused` log line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import InvalidInput
from hub.logs import get_logger

log = get_logger(__name__)

__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "StrictJSON", "loads_strict"]

MAX_DEPTH = 32  # a report nests 4 deep; a receipt batch 4
MAX_NUMBER_CHARS = 32  # ages and counts are small; nothing in the API needs more
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused(ValueError):
    """Raised inside the parser's hooks; `loads_strict` turns it into InvalidInput."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Refused("an object has the same key twice")
    return dict(pairs)


def _number(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise _Refused(f"a number is longer than {MAX_NUMBER_CHARS} characters")
        value = convert(text)
        if value in (float("inf"), float("-inf")):
            raise _Refused("a number is too large")
        return value

    return parse


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def _check_tree(document: Any) -> None:
    """Depth and strings, walked without recursion (the document may be hostile)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH}")
            for key, value in node.items():
                if _SURROGATE.search(key):
                    raise _Refused("a key holds a lone surrogate escape")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            if depth > MAX_DEPTH:
                raise _Refused(f"nested deeper than {MAX_DEPTH}")
            stack.extend((value, depth + 1) for value in node)
        elif isinstance(node, str) and _SURROGATE.search(node):
            raise _Refused("a string holds a lone surrogate escape")


def loads_strict(raw: bytes) -> Any:
    """Parse a JSON document that must be UTF-8 and mean exactly one thing.

    Raises InvalidInput (field `body`) for invalid UTF-8, a byte order mark, malformed JSON,
    duplicate keys, NaN or Infinity, a number over MAX_NUMBER_CHARS characters or beyond the
    float range, a lone surrogate escape, or nesting deeper than MAX_DEPTH.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput.at("body", "not UTF-8") from None
    if text.startswith("\ufeff"):
        raise InvalidInput.at("body", "starts with a byte order mark")
    try:
        document = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_int=_number(int),
            parse_float=_number(float),
            parse_constant=_constant,
        )
        _check_tree(document)
    except _Refused as exc:
        raise InvalidInput.at("body", str(exc)) from None
    except RecursionError:
        raise InvalidInput.at("body", f"nested deeper than {MAX_DEPTH}") from None
    except ValueError:
        raise InvalidInput.at("body", "not valid JSON") from None
    return document


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    return False


class StrictJSON:
    """Refuse, with 422, any JSON request body that `loads_strict` refuses.

    Sits inside `BodyLimit`, so the body it reads is already within the size limit; it reads the
    body once and replays it to the application unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                loads_strict(body)
            except InvalidInput as exc:
                reasons = [e.reason for e in exc.errors]
                log.warning("request_refused", path=scope["path"], reasons=reasons)
                await _refuse(send, reasons)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(send: Send, reasons: list[str]) -> None:
    body = json.dumps(
        {
            "title": "Invalid input",
            "status": 422,
            "detail": "the body is not strict JSON",
            "errors": [{"field": "body", "reason": reason} for reason in reasons],
        },
        separators=(",", ":"),  # as every other problem of the hub is written
        ensure_ascii=False,
    ).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
