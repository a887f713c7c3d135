"""Validated field types shared by the event catalogue and the states it carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

from shared.cid import is_valid_cid


def _cid(value: str) -> str:
    if not is_valid_cid(value):
        raise ValueError("not a valid CID")
    return value


def _hcode(value: str) -> str:
    if len(value) != 5 or not value.isascii() or not value.isdigit():
        raise ValueError("not a 5-digit hospital code")
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time without a time zone")
    return value.astimezone(UTC)


Cid = Annotated[str, AfterValidator(_cid)]
HCode = Annotated[str, AfterValidator(_hcode)]
# Written as ``datetime.isoformat()`` (``+00:00``), as every stored time always was.
UtcTime = Annotated[
    datetime, AfterValidator(_utc), PlainSerializer(datetime.isoformat, when_used="json")
]
