"""Notify's rules, pure (no I/O): what a notification is, how it is keyed and stored,
the hour buckets of the access digest, which hospitals an announcement lists.

Every notification id is derived from what caused it (``access-<event id>``,
``consent-<cid>-v<version>``, ``digest-<cid>-<hour>-<hash>``, ``announce-<slot>-<cid>``),
so storing or queuing an id twice is a no-op; that is what makes notify idempotent.
The texts are in ``texts.py``, the announcement calendar in ``schedule.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from services.notify.texts import Text
from shared.coverage import HospitalState

Preference = Literal["immediate", "hourly"]  # how a patient is told about accesses
Entry = tuple[str, str, dict[str, Any]]  # (notification id, patient, inbox fields)


@dataclass(frozen=True)
class Notice:
    """One notification to store in the inbox and queue for the webhook."""

    id: str
    patient: str
    kind: str
    text: Text
    data: dict[str, Any]


def inbox_entry(notice: Notice, created: datetime) -> Entry:
    """What the inbox keeps of a notice (``read`` is added by the inbox)."""
    fields = {"kind": notice.kind, "created_at": created, **asdict(notice.text)}
    return notice.id, notice.patient, {**fields, "data": notice.data}


def webhook_payload(entry: Entry) -> dict[str, Any]:
    """The JSON body the wallet app receives for an inbox entry."""
    notification_id, patient, fields = entry
    created = fields["created_at"].isoformat()
    return {"id": notification_id, "patient": patient, **fields, "created_at": created}


def name_of(code: str | None, hospital: HospitalState | None) -> str:
    """How a notification names a hospital: its name, else its code, else "-"."""
    if hospital is not None:
        return hospital.name
    return code or "-"


def hour_bucket(at: datetime) -> str:
    """The UTC hour an access arrived in, e.g. ``2026-02-15T05``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H")


def bucket_end(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H").replace(tzinfo=UTC) + timedelta(hours=1)


def digest_id(patient: str, bucket: str, item_ids: Iterable[str]) -> str:
    """One digest's id, from the set of items it holds (a late item makes a new set)."""
    digest = hashlib.sha256("|".join(sorted(item_ids)).encode()).hexdigest()[:12]
    return f"digest-{patient}-{bucket}-{digest}"


@dataclass(frozen=True)
class Announcement:
    """One claimed announcement slot: which hospitals joined in ``(since, slot]``."""

    key: str  # schedule.slot_key(slot)
    slot: datetime
    since: datetime
    hospitals: list[dict[str, Any]]  # {"code", "name"} of each, by name

    def notice_id(self, cid: str) -> str:
        return f"announce-{self.key}-{cid}"


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def joined_between(
    hospitals: list[dict[str, Any]], since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """States of the hospitals (``{"state": ...}`` documents) that joined, or became
    providers, in ``(since, until]``, by name."""
    found = []
    for doc in hospitals:
        state = doc.get("state", {})
        times = [_when(state.get("joined_at")), _when(state.get("provider_since"))]
        if state.get("active", True) and any(t and since < t <= until for t in times):
            found.append(state)
    return sorted(found, key=lambda s: (str(s.get("name", "")), str(s.get("code", ""))))
