"""Read use cases: a patient's records under consent, as FHIR searchsets and a summary.

Each read is one audited request (``handlers.request``). Its parameters are
validated inside it, so a 400 is audited like any other refusal. Access is decided
once per request (``access.start``), then per source before any chart is read
(``access.source_allowed``) and per record (``access.see_all``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

from services.query import access, ips, limits
from services.query.access import AccessContext, Verdict
from services.query.bundles import patient_entry, searchset, summary
from services.query.chartparts import ChartIndex
from services.query.charts import Entry
from services.query.fhirparams import included, revincluded
from services.query.handlers import Deps, check_cid, facts_for, new_context, refuse, request
from services.query.matching import select
from services.query.search import (
    READ_TYPES,
    SEARCH_TYPES,
    Criteria,
    parse_everything,
    parse_patient_search,
    parse_search,
    patient_of,
)
from services.query.subsets import parse_subset, shaped, shaped_json
from shared.cid import is_valid_cid
from shared.errors import Forbidden, InvalidInput, NotFound

Pairs = list[tuple[str, str]]
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR R4 id
Link = Callable[[int], str]


async def open_patient(deps: Deps, ctx: AccessContext) -> ChartIndex:
    """Decide access for ``ctx.patient``; the patient's chart index when allowed."""
    check_cid(ctx.patient)
    if ctx.requester is None:
        raise refuse(ctx)
    if ctx.requester.scopes == ():
        raise Forbidden("the token's scopes do not cover this patient")
    # The index is fetched while the rules decide; a refusal does not wait for it (a
    # revoked consent answers as soon as the facts say so, without the read barrier).
    opening = asyncio.ensure_future(settled_index(deps, ctx.patient))
    try:
        facts = await facts_for(deps, ctx.requester, ctx.patient)
        if access.start(ctx, facts) is Verdict.REJECT:
            raise refuse(ctx)
    except BaseException:
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await opening
        raise
    return await opening


def require_scope(ctx: AccessContext, rtype: str, action: str) -> None:
    """A SMART token reads and searches only the types its scopes name."""
    if ctx.requester is not None and not ctx.requester.reads(rtype, action):
        verb = "search" if action == "s" else "read"
        raise Forbidden(f"the token's scopes do not allow to {verb} {rtype}")


async def settled_index(deps: Deps, cid: str) -> ChartIndex:
    """The chart index once it holds every record stored before this read began.

    A refusal cancels this (``open_patient``), but never the database read itself: the
    driver closes a connection whose operation is cancelled, and the next request then
    pays for a new one (refused reads took ~14 ms longer than allowed ones). The read is
    left to finish in the background instead, its connection back in the pool."""
    await deps.freshness.settle(cid)
    reading = asyncio.ensure_future(deps.charts.index(cid))
    reading.add_done_callback(_retrieved)
    return await asyncio.shield(reading)


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A read nobody waits for any more: its error is dropped, not logged as unretrieved."""
    if not task.cancelled():
        task.exception()


async def visible(deps: Deps, ctx: AccessContext, index: ChartIndex) -> list[Entry]:
    """Every record of the patient this request may see, newest first."""
    allowed = [s for s in sorted(index) if access.source_allowed(ctx, s)]
    ctx.hidden += sum(int(index[s].get("n", 0)) for s in index if s not in allowed)
    entries = await deps.charts.entries(ctx.patient, index, allowed)
    return access.see_all(ctx, entries)


async def everything(
    deps: Deps, token: str | None, cid: str, pairs: Pairs, link: Link, strict: bool = False
) -> bytes:
    """``Patient/$everything``: a page of every record the physician may see."""
    ctx = await new_context(deps, token, cid, "Patient/$everything")
    async with request(deps, ctx):
        criteria = parse_everything(pairs, deps.settings.fhir_page_size, strict)
        index = await open_patient(deps, ctx)
        matched = select(await visible(deps, ctx, index), criteria)
        page = [] if criteria.summary_count else matched[criteria.offset :][: criteria.count]
        for e in page:
            access.will_see(ctx, e)
        page = shaped(page, criteria.subset)
        base = deps.settings.fhir_base
        return searchset(page, len(matched), criteria, link, base, notes=limits.said(ctx))


async def search(
    deps: Deps, token: str | None, rtype: str, pairs: Pairs, link: Link, strict: bool = False
) -> bytes:
    """A type search for one patient (``patient`` or ``subject``; or ``_id`` alone)."""
    if rtype == "Patient":
        return await patient_search(deps, token, pairs, link, strict)
    patient = patient_of(pairs)
    ctx = await new_context(deps, token, patient, rtype)
    async with request(deps, ctx):
        if rtype not in SEARCH_TYPES:
            raise NotFound(f"resource type not supported: {rtype[:40]}")
        criteria = parse_search(rtype, pairs, deps.settings.fhir_page_size, strict)
        if not patient and criteria.ids and ctx.requester is not None:
            ctx.patient = patient = await _owner(deps, rtype, criteria.ids)
        if not patient:
            raise InvalidInput("the patient (or subject) parameter is required")
        require_scope(ctx, rtype, "s")
        index = await open_patient(deps, ctx)
        seen = await visible(deps, ctx, index)
        matched = select(seen, criteria)
        page = [] if criteria.summary_count else matched[criteria.offset :][: criteria.count]
        pool = {(e["type"], e["id"]): e for e in seen}
        extra = included(page, pool, criteria.includes)
        extra += revincluded(page, seen, criteria.revincludes, extra)
        for e in [*page, *extra]:
            access.will_see(ctx, e)
        page, extra = shaped(page, criteria.subset), shaped(extra, criteria.subset)
        base, notes = deps.settings.fhir_base, limits.said(ctx)
        return searchset(page, len(matched), criteria, link, base, extra, notes)


async def _owner(deps: Deps, rtype: str, ids: frozenset[str]) -> str:
    """The one patient the given resource ids belong to ("" if none, or several)."""
    owners = {p for rid in sorted(ids)[:50] for p, _ in await deps.charts.locate(f"{rtype}/{rid}")}
    return owners.pop() if len(owners) == 1 else ""


async def read(
    deps: Deps,
    token: str | None,
    rtype: str,
    rid: str,
    pairs: Pairs | None = None,
    strict: bool = False,
) -> bytes:
    """``GET /fhir/{type}/{id}``: one resource, decided and audited like a search.

    Where it lives comes from ``resource_locations``; ``Patient/{cid}`` is the patient
    as Health Link knows them (CID identifier, demographics from the newest visible
    Patient resource, links to each source's Patient resources). ``_elements`` and
    ``_summary=true|text|data`` subset it (``_summary=count`` means nothing here)."""
    known = rtype in READ_TYPES and _ID.match(rid) is not None
    places = await deps.charts.locate(f"{rtype}/{rid}") if known else []
    patient = places[0][0] if places else (rid if rtype == "Patient" else "")
    ctx = await new_context(deps, token, patient, f"{rtype}/read")
    async with request(deps, ctx):
        if ctx.requester is None:
            raise refuse(ctx)
        subset = parse_subset(pairs or [], strict)[1]
        if not known:
            raise NotFound(f"resource type not supported: {rtype[:40]}")
        require_scope(ctx, rtype, "r")
        if not patient:
            raise NotFound(f"{rtype}/{rid[:64]} is not known")
        if rtype == "Patient" and not places:
            found = await _patient_resource(deps, ctx)
            if found is None:
                raise NotFound("no record of this patient is visible")
            return shaped_json(str(found["json"]), subset).encode()
        index = await open_patient(deps, ctx)
        sources = {h for p, h in places if p == patient}
        seen = await visible(deps, ctx, {h: v for h, v in index.items() if h in sources})
        for e in seen:
            if e["type"] == rtype and e["id"] == rid:
                access.will_see(ctx, e)
                return shaped_json(str(e["json"]), subset).encode()
        raise NotFound(f"{rtype}/{rid[:64]} is not known or not visible")


async def patient_search(
    deps: Deps, token: str | None, pairs: Pairs, link: Link, strict: bool
) -> bytes:
    """``GET /fhir/Patient?identifier=<CID system>|<cid>`` (or ``_id=<cid>``)."""
    try:
        criteria, cid = parse_patient_search(pairs, deps.settings.fhir_page_size, strict)
        error: InvalidInput | None = None
    except InvalidInput as exc:
        criteria, cid, error = Criteria(), "", exc
    ctx = await new_context(deps, token, cid, "Patient")
    async with request(deps, ctx):
        if error is not None:
            raise error
        if ctx.requester is None:
            raise refuse(ctx)
        require_scope(ctx, "Patient", "s")
        found = await _patient_resource(deps, ctx) if is_valid_cid(cid) else None
        matched = [found] if found is not None else []
        page = [] if criteria.summary_count else matched[criteria.offset :][: criteria.count]
        page = shaped(page, criteria.subset)
        base = deps.settings.fhir_base
        return searchset(page, len(matched), criteria, link, base, notes=limits.said(ctx))


async def _patient_resource(deps: Deps, ctx: AccessContext) -> Entry | None:
    """The patient as a Patient resource with the CID as id, if any record is visible."""
    index = await open_patient(deps, ctx)
    seen = await visible(deps, ctx, index)
    if not seen:
        return None
    sources = [e for e in seen if e["type"] == "Patient"]
    for e in sources:
        access.will_see(ctx, e)
    return patient_entry(ctx.patient, sources)


async def patient_summary(deps: Deps, token: str | None, cid: str) -> dict[str, Any]:
    """Counts and latest items per category and per source hospital."""
    ctx = await new_context(deps, token, cid, "summary")
    async with request(deps, ctx):
        index = await open_patient(deps, ctx)
        entries = sorted(await visible(deps, ctx, index), key=_dated_first, reverse=True)
        for e in entries:
            access.will_see(ctx, e)
        return summary(cid, entries)


def _dated_first(e: Entry) -> tuple[bool, float]:
    """Newest first across sources (each chart is already), undated ones last."""
    return e["t"] is not None, e["t"] or 0.0


async def summary_document(deps: Deps, token: str | None, cid: str) -> bytes:
    """``Patient/$summary``: the International Patient Summary of what may be seen."""
    ctx = await new_context(deps, token, cid, "Patient/$summary")
    async with request(deps, ctx):
        index = await open_patient(deps, ctx)
        seen = await visible(deps, ctx, index)
        patient = patient_entry(cid, [e for e in seen if e["type"] == "Patient"])
        body, shown = ips.document(patient, seen, deps.settings.fhir_base)
        for e in shown:
            access.will_see(ctx, e)
        return body
