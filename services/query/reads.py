"""Read use cases: a patient's records under consent, as FHIR searchsets and a summary.

Each read is one audited request (``handlers.request``). Its parameters are
validated inside it, so a 400 is audited like any other refusal. Access is decided
once per request (``access.start``), then per source before any chart is read
(``access.source_allowed``) and per record (``access.see_all``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from services.query import access
from services.query.access import AccessContext, Verdict
from services.query.bundles import searchset, summary
from services.query.charts import Entry
from services.query.chartstore import ChartIndex
from services.query.handlers import Deps, check_cid, facts_for, new_context, refuse, request
from services.query.search import SEARCH_TYPES, parse_everything, parse_search, select, single
from shared.errors import InvalidInput, NotFound

Pairs = list[tuple[str, str]]
Link = Callable[[int], str]


async def open_patient(deps: Deps, ctx: AccessContext) -> ChartIndex:
    """Decide access for ``ctx.patient``; the patient's chart index when allowed."""
    check_cid(ctx.patient)
    if ctx.requester is None:
        raise refuse(ctx)
    facts, index = await asyncio.gather(
        facts_for(deps, ctx.requester, ctx.patient), deps.charts.index(ctx.patient)
    )
    if access.start(ctx, facts) is Verdict.REJECT:
        raise refuse(ctx)
    return index


async def visible(deps: Deps, ctx: AccessContext, index: ChartIndex) -> list[Entry]:
    """Every record of the patient this request may see, newest first."""
    allowed = [s for s in sorted(index) if access.source_allowed(ctx, s)]
    ctx.hidden += sum(int(index[s].get("n", 0)) for s in index if s not in allowed)
    entries = await deps.charts.entries(ctx.patient, index, allowed)
    return access.see_all(ctx, entries)


async def everything(deps: Deps, token: str | None, cid: str, pairs: Pairs, link: Link) -> bytes:
    """``Patient/$everything``: a page of every record the physician may see."""
    ctx = new_context(deps, token, cid, "Patient/$everything")
    async with request(deps, ctx):
        criteria = parse_everything(pairs, deps.settings.fhir_page_size)
        index = await open_patient(deps, ctx)
        matched = select(await visible(deps, ctx, index), criteria)
        page = matched[criteria.offset : criteria.offset + criteria.count]
        for e in page:
            access.will_see(ctx, e)
        return searchset(page, len(matched), criteria, link)


async def search(deps: Deps, token: str | None, rtype: str, pairs: Pairs, link: Link) -> bytes:
    """A type search for one patient (``patient`` is required)."""
    patient = _patient_param(pairs)
    ctx = new_context(deps, token, patient, rtype)
    async with request(deps, ctx):
        if rtype not in SEARCH_TYPES:
            raise NotFound(f"resource type not supported: {rtype[:40]}")
        criteria = parse_search(rtype, pairs, deps.settings.fhir_page_size)
        if not patient:
            raise InvalidInput("the patient parameter is required")
        index = await open_patient(deps, ctx)
        matched = select(await visible(deps, ctx, index), criteria)
        page = matched[criteria.offset : criteria.offset + criteria.count]
        for e in page:
            access.will_see(ctx, e)
        return searchset(page, len(matched), criteria, link)


async def patient_summary(deps: Deps, token: str | None, cid: str) -> dict[str, Any]:
    """Counts and latest items per category and per source hospital."""
    ctx = new_context(deps, token, cid, "summary")
    async with request(deps, ctx):
        index = await open_patient(deps, ctx)
        entries = sorted(await visible(deps, ctx, index), key=_dated_first, reverse=True)
        for e in entries:
            access.will_see(ctx, e)
        return summary(cid, entries)


def _dated_first(e: Entry) -> tuple[bool, float]:
    """Newest first across sources (each chart is already), undated ones last."""
    return e["t"] is not None, e["t"] or 0.0


def _patient_param(pairs: Pairs) -> str:
    try:
        value = single(pairs, "patient") or ""
    except InvalidInput:
        return ""
    return value.removeprefix("Patient/")
