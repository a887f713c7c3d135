"""A hospital's own set-aside uploads, for its staff (the hospital console, docs/portal.md).

    GET  /hospitals/{code}/deadletters                 a page of this hospital's uploads set
                                                       aside (``limit``, ``cursor``, ``status``)
    POST /hospitals/{code}/deadletters/{id}/retry      send one back to the upload topic

The operators' router (``shared/admin.py``) sees every dead letter; this one shows a
hospital only letters from the upload topic whose ``hl-hospital`` header is its code,
and retries only those, with the hospital's admin key (the credential consent gives a
hospital; the same check as query's roster API). Any service lists them; a retry goes
through the service that may write the upload topic (ingest), another answers 403
naming it. A retry is noted on the retry log like an operator's, with who asked
(``hl-dlq-retried-by``: ``hospital:<code>``), and is a security event in the audit log
before it is sent (``operator.acted`` ``deadletter.retried`` under ``hospital:<code>``,
as consent records a hospital's own key changes; 503 if the log cannot take it).

The list goes a page at a time like the operators' (``shared/deadletter_pages.py``, the
process's kept consumer and retry log), filtered to the hospital's uploads: a page costs
the same however large the topic; a page may hold fewer than ``limit`` (even none) with a
``next`` when the hospital's letters are rare (the scan budget). A retry by id still reads
the whole topic (a letter's id does not tell where it is); it is one click of a person.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from healthlink_adapter.contract import HOSPITAL_HEADER

from shared import topics
from shared.admin import (
    DeadLetterBook,
    Status,
    matcher,
    page_reader,
    read_book,
    refuse_foreign,
    retry_letters,
    retry_log,
)
from shared.deadletter import DeadLetter, describe
from shared.deadletter_cursor import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    check_limit,
    decode_cursor,
    encode_cursor,
)
from shared.deadletter_pages import read_page
from shared.errors import NotFound
from shared.hospital_auth import require_admin_key
from shared.logging import get_logger
from shared.operators import Operator, acted

log = get_logger(__name__)
HospitalCode = Annotated[str, Path(pattern=r"^\d{5}$", description="the hospital's code")]
LetterId = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,64}$", description="a dead letter's id")]


async def require_hospital_key(code: HospitalCode, request: Request) -> None:
    """The hospital's admin key as the bearer token, else 401 (``shared.hospital_auth``)."""
    await require_admin_key(request, code)


router = APIRouter(
    prefix="/hospitals/{code}/deadletters",
    tags=["hospital staff"],
    dependencies=[Depends(require_hospital_key)],
)


def is_upload_of(code: str, letter: DeadLetter) -> bool:
    """An upload set aside that carries this hospital's code."""
    return (
        letter.source.topic == topics.INGEST_UPLOADS
        and letter.source.headers.get(HOSPITAL_HEADER) == code
    )


def uploads_of(book: DeadLetterBook, code: str, status: Status = "all") -> list[DeadLetter]:
    """The hospital's uploads set aside (the upload topic, its ``hl-hospital``)."""
    return [letter for letter in book.select(status=status) if is_upload_of(code, letter)]


async def _book(request: Request) -> DeadLetterBook:
    runtime = request.app.state.runtime
    return await read_book(runtime.settings, str(runtime.service))


@router.get("")
async def read_hospital_letters(
    code: HospitalCode,
    request: Request,
    status: Status = "all",
    limit: Annotated[int, Query(description=f"1 to {MAX_LIMIT}")] = DEFAULT_LIMIT,
    cursor: Annotated[str, Query(description="the `cursor` of the page before")] = "",
) -> dict[str, Any]:
    """A page of this hospital's uploads set aside, oldest first, each with its reason and
    whether it was retried (no payload: its size and resource counts); ``next`` links the
    page after (null at the end of the topic)."""
    check_limit(limit)
    positions = decode_cursor(cursor) if cursor else {}
    log = retry_log(request)
    retried = log.retried  # caught up by read_page before it filters
    by_status = matcher(retried, "", "", topics.INGEST_UPLOADS, status)

    def keep(letter: DeadLetter) -> bool:
        return is_upload_of(code, letter) and by_status(letter)

    page = await read_page(page_reader(request), positions, limit, keep, log)
    token = encode_cursor(page.positions)
    chosen = {"status": status} if status != "all" else {}
    query = urlencode({**chosen, "limit": limit, "cursor": token})
    return {
        "hospital": code,
        "count": len(page.letters),
        "scanned": page.scanned,
        "entries": [describe(letter, retried.get(letter.id)) for letter in page.letters],
        "cursor": token,
        "next": f"/hospitals/{code}/deadletters?{query}" if page.more else None,
    }


@router.post("/{letter_id}/retry")
async def create_hospital_retry(
    code: HospitalCode, letter_id: LetterId, request: Request
) -> dict[str, Any]:
    """Send one of this hospital's set-aside uploads back to the upload topic (handlers
    are idempotent); another hospital's, or an unknown id, is 404."""
    book = await _book(request)
    chosen = [letter for letter in uploads_of(book, code) if letter.id == letter_id]
    if not chosen:
        raise NotFound(f"no set-aside upload {letter_id} of hospital {code}")
    runtime = request.app.state.runtime
    refuse_foreign(str(runtime.service), chosen)
    staff = Operator(f"hospital:{code}", ("hospital",))  # as consent names a hospital's own
    await acted(request, staff, "deadletter.retried", letter_id, {"hospital": code})
    done = await retry_letters(runtime.dead_letters, chosen, by=f"hospital:{code}")
    log.info("hospital retried a set-aside upload", hospital=code, letter=letter_id)
    return {"retried": len(done), "ids": done}
