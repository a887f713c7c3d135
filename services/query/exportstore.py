"""Bulk Data export jobs: the port, its MongoDB collection and an in-memory fake.

A job holds who asked (the patient's CID), when (``transactionTime``), what was asked
(the kick-off URL) and how many resources of each type the decision allowed then.
The files themselves are not stored: each is built when it is fetched, under the same
access decision and audit as any read (``export.py``), so no copy of a record
outlives its job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


@dataclass(frozen=True)
class ExportJob:
    id: str
    owner: str
    request: str
    transaction_time: str
    counts: dict[str, int] = field(default_factory=dict)


class ExportJobs(Protocol):
    async def add(self, job: ExportJob) -> None: ...
    async def get(self, job_id: str) -> ExportJob | None: ...
    async def delete(self, job_id: str) -> bool: ...


def _job(doc: Document) -> ExportJob:
    return ExportJob(
        id=str(doc["_id"]),
        owner=str(doc["owner"]),
        request=str(doc["request"]),
        transaction_time=str(doc["transaction_time"]),
        counts={str(k): int(v) for k, v in dict(doc.get("counts") or {}).items()},
    )


class MongoExportJobs:
    """``export_jobs``: one document per job, read and deleted by ``_id``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._jobs = db.export_jobs

    async def add(self, job: ExportJob) -> None:
        await self._jobs.insert_one(
            {
                "_id": job.id,
                "owner": job.owner,
                "request": job.request,
                "transaction_time": job.transaction_time,
                "counts": job.counts,
            }
        )

    async def get(self, job_id: str) -> ExportJob | None:
        doc = await self._jobs.find_one({"_id": job_id})
        return _job(doc) if doc is not None else None

    async def delete(self, job_id: str) -> bool:
        return (await self._jobs.delete_one({"_id": job_id})).deleted_count == 1


class MemoryExportJobs:
    """The fake for unit tests."""

    def __init__(self) -> None:
        self.jobs: dict[str, ExportJob] = {}

    async def add(self, job: ExportJob) -> None:
        self.jobs[job.id] = job

    async def get(self, job_id: str) -> ExportJob | None:
        return self.jobs.get(job_id)

    async def delete(self, job_id: str) -> bool:
        return self.jobs.pop(job_id, None) is not None
