"""``Patient/{cid}/$export``: FHIR Bulk Data (asynchronous, NDJSON) for the patient.

A patient's portable copy of their own record — Thailand's PDPA right of access:

1. kick-off ``GET /fhir/Patient/{cid}/$export`` with ``Prefer: respond-async``
   (optional ``_type``, ``_outputFormat=application/fhir+ndjson``) → 202 and
   ``Content-Location`` of the job's status; decided and audited like a read
   (``Patient/$export``, what the decision allowed counted);
2. ``GET /fhir/$export-status/{job}`` → the manifest (``transactionTime``, one
   ``output`` per type with its file URL and count, ``requiresAccessToken``);
   ``DELETE`` ends the job;
3. ``GET /fhir/$export-file/{job}/{Type}.ndjson`` → one resource per line, decided and
   audited again (``Patient/$export-file``), so every copy leaves on the record.

Only the patient's own SMART token may export (physicians read at the bedside; they
do not take copies). A job belongs to its patient: anyone else gets 404. Jobs end
after ``EXPORT_TTL_S``. Files are built when fetched, not stored (``exportstore.py``).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from services.query import access
from services.query.exportstore import ExportJob
from services.query.handlers import Deps, new_context, refuse, request, requester_of
from services.query.reads import Pairs, open_patient, visible
from services.query.search import READ_TYPES
from shared.errors import Forbidden, InvalidInput, NotFound, Unauthorized

EXPORT_TTL_S = 3600
NDJSON = "application/fhir+ndjson"
FORMATS = {NDJSON, "application/ndjson", "ndjson"}
_KNOWN = {"_type", "_outputFormat"}
_JOB_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex


def parse_kick_off(pairs: Pairs, prefer: str) -> frozenset[str]:
    """The types asked for (empty: all); 400 on what this server cannot do."""
    if "respond-async" not in prefer.lower():
        raise InvalidInput("Bulk Data export is asynchronous: send 'Prefer: respond-async'")
    types: set[str] = set()
    for key, value in pairs:
        if key == "_type":
            types.update(t.strip() for t in value.split(",") if t.strip())
        elif key == "_outputFormat" and value not in FORMATS:
            raise InvalidInput(f"_outputFormat {value[:40]!r} is not served; use {NDJSON}")
        elif key not in _KNOWN:
            raise InvalidInput(f"parameter not supported by $export: {key[:40]}")
    unknown = sorted(types - set(READ_TYPES))
    if unknown:
        raise InvalidInput(f"_type not exported: {', '.join(t[:40] for t in unknown)}")
    return frozenset(types)


async def kick_off(
    deps: Deps, token: str | None, cid: str, pairs: Pairs, prefer: str, url: str
) -> str:
    """Start a job; returns the URL of its status."""
    ctx = await new_context(deps, token, cid, "Patient/$export")
    async with request(deps, ctx):
        types = parse_kick_off(pairs, prefer)
        if ctx.requester is None:
            raise refuse(ctx)
        if ctx.requester.patient is None:
            raise Forbidden("$export is the patient's own copy: sign in as the patient")
        index = await open_patient(deps, ctx)
        seen = [e for e in await visible(deps, ctx, index) if not types or e["type"] in types]
        for e in seen:
            access.will_see(ctx, e)
        counts = Counter(str(e["type"]) for e in seen)
        job = ExportJob(uuid.uuid4().hex, cid, url, deps.clock().isoformat(), dict(counts))
        await deps.exports.add(job)
        return f"{deps.settings.fhir_base}/$export-status/{job.id}"


async def owned(deps: Deps, token: str | None, job_id: str) -> ExportJob:
    """The job, for its patient only (404 to anyone else, and once it has ended)."""
    job = await deps.exports.get(job_id) if _JOB_ID.fullmatch(job_id) else None
    requester, why = await requester_of(deps, token, job.owner if job else "")
    if requester is None:
        raise Unauthorized(why)
    if job is None or requester.patient != job.owner:
        raise NotFound("no such export job")
    started = datetime.fromisoformat(job.transaction_time)
    if deps.clock() - started > timedelta(seconds=EXPORT_TTL_S):
        await deps.exports.delete(job.id)
        raise NotFound("this export job has ended; start a new one")
    return job


async def manifest(deps: Deps, token: str | None, job_id: str) -> dict[str, Any]:
    job = await owned(deps, token, job_id)
    base = deps.settings.fhir_base
    return {
        "transactionTime": job.transaction_time,
        "request": job.request,
        "requiresAccessToken": True,
        "output": [
            {"type": t, "url": f"{base}/$export-file/{job.id}/{t}.ndjson", "count": n}
            for t, n in sorted(job.counts.items())
        ],
        "error": [],
    }


async def end(deps: Deps, token: str | None, job_id: str) -> None:
    job = await owned(deps, token, job_id)
    await deps.exports.delete(job.id)


async def file(deps: Deps, token: str | None, job_id: str, rtype: str) -> bytes:
    """One type's resources, one per line, as the decision allows them now."""
    job = await owned(deps, token, job_id)
    if rtype not in job.counts:
        raise NotFound(f"this export has no {rtype[:40]} file")
    ctx = await new_context(deps, token, job.owner, "Patient/$export-file")
    async with request(deps, ctx):
        index = await open_patient(deps, ctx)
        lines = []
        for e in await visible(deps, ctx, index):
            if e["type"] == rtype:
                access.will_see(ctx, e)
                lines.append(f"{e['json']}\n".encode())  # each line alone: see bundles._entry
        return b"".join(lines)
