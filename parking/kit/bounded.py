"""Bounded summaries of untrusted input, for logs and audit rows: what arrived (size, digest, field names, a
short excerpt) without keeping whatever an unauthenticated sender chose to send."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

MAX_KEYS = 20
MAX_KEY_CHARS = 40
MAX_EXCERPT_CHARS = 200


def summary(payload: Any) -> dict[str, Any]:
    """{"bytes", "sha256", "keys", "excerpt"}: at most ~1.3 KB whatever ``payload`` is."""
    if isinstance(payload, bytes | bytearray):
        raw = bytes(payload)
    else:
        try:
            raw = orjson.dumps(payload, default=str, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # e.g. an integer beyond 64 bits: the stdlib encoder takes anything JSON can hold
            raw = json.dumps(payload, default=str, sort_keys=True, ensure_ascii=False).encode("utf-8", "replace")
    keys = sorted(str(k)[:MAX_KEY_CHARS] for k in payload)[:MAX_KEYS] if isinstance(payload, dict) else []
    excerpt = raw[: MAX_EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:MAX_EXCERPT_CHARS]
    return {
        "bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "keys": keys,
        "excerpt": excerpt.replace("\x00", "\ufffd"),
    }
