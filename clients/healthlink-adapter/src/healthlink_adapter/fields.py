"""Validated field types of the wire: a CID, a hospital code, a time in UTC.

The platform's event catalogue uses the same types (``shared.fields`` imports these).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

from healthlink_adapter.contract import is_hospital_code, is_valid_cid


def _cid(value: str) -> str:
    if not is_valid_cid(value):
        raise ValueError("not a valid CID")
    return value


def _hcode(value: str) -> str:
    if not is_hospital_code(value):
        raise ValueError("not a 5-digit hospital code")
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time without a time zone")
    return value.astimezone(UTC)


Cid = Annotated[str, AfterValidator(_cid)]
HCode = Annotated[str, AfterValidator(_hcode)]
# Written as ``datetime.isoformat()`` (``+00:00``).
UtcTime = Annotated[
    datetime, AfterValidator(_utc), PlainSerializer(datetime.isoformat, when_used="json")
]
