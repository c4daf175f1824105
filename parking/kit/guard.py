"""Request guard (pure ASGI, outermost): refuses hostile input before any parsing.

- Body size: a ``Content-Length`` above the limit is refused before a byte is read; a streamed (chunked) body
  is counted as it arrives and refused as soon as it passes the limit. The limit is per path prefix (the
  longest matching prefix of ``limits`` wins, else ``default``).
- Strings the database cannot store: a NUL character or a lone UTF-16 surrogate anywhere in the query
  string, the path, a JSON body (keys and values, at any depth) or a form body is ``422 invalid_request``,
  for every route at once rather than field by field.

Hand-written rather than Starlette's ``RequestBodyLimitMiddleware``: that one answers some refusals in plain
text, and the NUL check needs the buffered body anyway (JSON can only carry NUL or a lone surrogate as a
``\\u`` escape, so a body without ``\\u`` is not parsed twice).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parking.kit.errors import error_body

_PCT_NUL = re.compile(rb"%00")


class BodyTooLarge(Exception):
    pass


def _bad_text(s: str) -> bool:
    if "\x00" in s:
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return True
    return False


def bad_value(v: Any) -> bool:
    """True when a decoded JSON value holds a string PostgreSQL cannot store (NUL, lone surrogate)."""
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, str):
            if _bad_text(x):
                return True
        elif isinstance(x, dict):
            for k, val in x.items():
                if isinstance(k, str) and _bad_text(k):
                    return True
                stack.append(val)
        elif isinstance(x, list):
            stack.extend(x)
    return False


def _bad_urlencoded(raw: bytes) -> bool:
    if b"\x00" in raw or _PCT_NUL.search(raw):
        return True
    try:
        unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


class RequestGuard:
    def __init__(self, app: ASGIApp, default: int, limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = default
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, n in self.limits:
            if path.startswith(prefix):
                return n
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if _bad_urlencoded(scope.get("query_string", b"")) or _bad_text(path):
            await _refuse(send, 422, "invalid_request", "The query or path holds a NUL or an invalid character.")
            return
        limit = self.limit_for(path)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _refuse(send, 400, "invalid_request", "Content-Length is not a number.")
                return
            if too_big:
                await _refuse_size(send, limit)
                return
        if (
            scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE")
            and declared is None
            and not headers.get(b"transfer-encoding")
        ):
            await self.app(scope, receive, send)
            return
        try:
            body, tail = await _read_body(receive, limit)
        except BodyTooLarge:
            await _refuse_size(send, limit)
            return
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and _bad_body(ctype, body):
            await _refuse(
                send,
                422,
                "invalid_request",
                "The request holds a NUL character or an invalid one (a lone surrogate); it cannot be stored.",
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return tail if tail is not None else await receive()

        await self.app(scope, replay, send)


def _bad_body(ctype: bytes, body: bytes) -> bool:
    if ctype == b"application/json" or ctype.endswith(b"+json"):
        if b"\\u" not in body and b"\x00" not in body:
            return False
        try:
            return bad_value(orjson.loads(body))
        except orjson.JSONDecodeError:
            try:  # orjson refuses lone surrogates that the stdlib (which FastAPI uses) accepts
                return bad_value(json.loads(body))
            except ValueError:
                return b"\x00" in body  # not JSON at all: FastAPI answers 422 itself
    if ctype == b"application/x-www-form-urlencoded":
        return _bad_urlencoded(body)
    return False


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, Message | None]:
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return b"".join(chunks), msg  # e.g. http.disconnect: handed on to the app
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not msg.get("more_body", False):
            return b"".join(chunks), None


async def _refuse_size(send: Send, limit: int) -> None:
    await _refuse(
        send,
        413,
        "payload_too_large",
        f"The request body is larger than {limit} bytes.",
        {"max_bytes": limit},
    )


# No "Connection: close": the server (uvicorn) then discards the unread rest of the body instead of closing
# a socket with unread bytes, which would reset the connection and lose this answer on the client's side.
async def _refuse(send: Send, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
    body = orjson.dumps(error_body(code, message, details))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
