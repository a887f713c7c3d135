"""The dead-letter list's paging contract: the opaque cursor (per-partition next offsets
of ``healthlink.deadletter``) and the page size. What reads a page is in
``deadletter_pages.py``."""

from __future__ import annotations

import base64
import binascii
import json

from shared.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(positions: dict[int, int]) -> str:
    """The opaque token of per-partition next offsets."""
    body = json.dumps({"v": 1, "p": {str(p): o for p, o in sorted(positions.items())}})
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> dict[int, int]:
    """Per-partition offsets from a token, or ``InvalidInput`` saying what is wrong."""
    if len(token) > 4096:
        raise InvalidInput("cursor: too long")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("cursor: not a token this API gave (use the `next` link)") from exc
    if not isinstance(body, dict) or body.get("v") != 1 or not isinstance(body.get("p"), dict):
        raise InvalidInput("cursor: not a token this API gave (use the `next` link)")
    positions: dict[int, int] = {}
    for part, offset in body["p"].items():
        if not (isinstance(part, str) and part.isdigit()) or type(offset) is not int:
            raise InvalidInput("cursor: partitions and offsets must be whole numbers")
        if offset < 0:
            raise InvalidInput("cursor: offsets cannot be negative")
        positions[int(part)] = offset
    return positions


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    return limit
