"""What ingest stored: ``records.received`` per upload on ``INGEST_RECORDS`` (for the
patient's inbox and the hospital's receipts) and ``records.stored`` on ``INGEST_STORED``
(every stored resource, for read models such as query's charts). Key: CID."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.events.base import Event
from shared.fields import Cid, HCode
from shared.topics import INGEST_RECORDS, INGEST_STORED


class RecordsReceived(Event):
    """An upload was stored: counts per category, skipped types; id ``records-<upload>``."""

    NAME = "records.received"
    TOPIC = INGEST_RECORDS

    patient: Cid
    hospital: HCode
    upload_id: str
    counts: dict[str, int] = Field(default_factory=dict)
    skipped: dict[str, int] = Field(default_factory=dict)
    resources: int = Field(ge=0)
    written: int = Field(ge=0)
    request_id: str | None = None


class StoredRecord(BaseModel):
    """One stored resource as read models receive it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str
    resource_id: str
    resource_json: str
    category: str | None = None
    sensitive: bool = False
    date: str | None = None
    rank: str = ""
    received_at: str | None = None


class RecordsStored(Event):
    """Part ``part`` of ``parts`` of what one upload stored; id ``stored-<upload>-<part>``."""

    NAME = "records.stored"
    TOPIC = INGEST_STORED

    patient: Cid
    hospital: HCode
    upload_id: str
    part: int = Field(ge=0)
    parts: int = Field(ge=1)
    records: list[StoredRecord]
