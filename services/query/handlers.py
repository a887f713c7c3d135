"""Query use cases: sign-in, rosters, break-glass, and reading a patient's records under consent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.query import access
from services.query.access import AccessContext, BreakGlass, Facts, Requester, Verdict
from services.query.audit import Auditor
from services.query.breakglass import BreakGlassLog
from services.query.bundles import searchset, summary
from services.query.charts import Entry
from services.query.chartstore import ChartIndex, ChartStore
from services.query.errors import LockedOut
from services.query.lockout import SignInFailures
from services.query.physicians import LicenceRegistry, Rosters, check_pin
from services.query.search import SEARCH_TYPES, parse_everything, parse_search, select, single
from services.query.settings import QuerySettings
from shared import tokens
from shared.cid import is_valid_cid
from shared.consumer import Outcomes, envelopes
from shared.deadletter import SourceMessage
from shared.errors import Forbidden, InvalidInput, NotFound, Rejected, Unauthorized
from shared.events import (
    BreakGlassDeclared,
    PhysicianAdded,
    PhysicianLockedOut,
    PhysicianRemoved,
    PhysicianSignedIn,
    RecordsStored,
    SignInFailed,
    StoredRecord,
)
from shared.projections import ConsentProjection

Pairs = list[tuple[str, str]]
Link = Callable[[int], str]


@dataclass
class Deps:
    registry: LicenceRegistry
    rosters: Rosters
    failures: SignInFailures
    glass: BreakGlassLog
    view: ConsentProjection
    charts: ChartStore
    auditor: Auditor
    secret: str
    token_ttl_s: int
    settings: QuerySettings
    clock: Callable[[], datetime]


# --- sign-in and rosters ---------------------------------------------------------------


async def sign_in(deps: Deps, licence: str, pin: str, hospital: str) -> dict[str, Any]:
    """A short-lived physician token for ``hospital``, or 401 / 403 / 429."""
    now = deps.clock()
    if await deps.failures.locked_until(licence, now):
        await deps.auditor.security(
            SignInFailed(physician=licence, hospital=hospital, time=now, reason="locked-out")
        )
        raise LockedOut("too many failed sign-ins; try again later")
    entry = await deps.registry.get(licence)
    pin_ok = await check_pin(entry.get("pin_hash") if entry else None, pin)
    if entry is None or not pin_ok or not entry.get("active"):
        await _failed(deps, licence, hospital, now)
        raise Unauthorized("licence number or PIN is wrong")
    await deps.failures.succeeded(licence)
    view = await deps.view.hospital(hospital)
    if view is None or not view.active or not await deps.rosters.is_on(hospital, licence):
        await deps.auditor.security(
            SignInFailed(physician=licence, hospital=hospital, time=now, reason="not-on-roster")
        )
        raise Forbidden("ask your hospital's staff to add you to its roster")
    await deps.auditor.security(PhysicianSignedIn(physician=licence, hospital=hospital, time=now))
    token = tokens.issue(
        deps.secret, tokens.PHYSICIAN, licence, deps.token_ttl_s,
        hospital=hospital, name=entry["name"],
    )  # fmt: skip
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": deps.token_ttl_s,
        "hospital": hospital,
    }


async def _failed(deps: Deps, licence: str, hospital: str, now: datetime) -> None:
    failure = await deps.failures.failed(licence, now)
    await deps.auditor.security(
        SignInFailed(physician=licence, hospital=hospital, time=now, reason="bad-credentials",
                     failures=failure.count)
    )  # fmt: skip
    if failure.locked_now:
        until = now + timedelta(seconds=deps.settings.lockout_s)
        await deps.auditor.security(
            PhysicianLockedOut(physician=licence, hospital=hospital, time=now,
                               failures=failure.count, until=until)
        )  # fmt: skip


async def add_to_roster(deps: Deps, hospital: str, licence: str) -> list[str]:
    entry = await deps.registry.get(licence)
    if entry is None or not entry.get("active"):
        raise NotFound("licence is not in the Medical Council registry")
    if await deps.rosters.add(hospital, licence, deps.clock()):
        await deps.auditor.security(
            PhysicianAdded(physician=licence, hospital=hospital, time=deps.clock())
        )
    return await deps.rosters.list(hospital)


async def remove_from_roster(deps: Deps, hospital: str, licence: str) -> list[str]:
    if await deps.rosters.remove(hospital, licence):
        await deps.auditor.security(
            PhysicianRemoved(physician=licence, hospital=hospital, time=deps.clock())
        )
    return await deps.rosters.list(hospital)


# --- who is asking ----------------------------------------------------------------------


def requester_of(deps: Deps, token: str | None) -> tuple[Requester | None, str]:
    """The physician a bearer token names, or None and why not."""
    if not token:
        return None, "not authenticated"
    try:
        claims = tokens.verify(deps.secret, tokens.PHYSICIAN, token)
        requester = Requester(str(claims["sub"]), str(claims.get("name", "")),
                              str(claims["hospital"]))  # fmt: skip
    except (Unauthorized, KeyError, TypeError, ValueError) as exc:
        return None, getattr(exc, "detail", "invalid token")
    return requester, "authenticated"


async def facts_for(deps: Deps, requester: Requester | None, cid: str) -> Facts:
    now = deps.clock()
    if requester is None:
        return Facts(now=now)
    entry, on_roster, hospital, consent, glass = await asyncio.gather(
        deps.registry.get(requester.licence),
        deps.rosters.is_on(requester.hospital, requester.licence),
        deps.view.hospital(requester.hospital),
        deps.view.consent(cid),
        deps.glass.active(requester.licence, requester.hospital, cid, now),
    )
    state = consent.state if consent is not None else None
    return Facts(now, bool(entry and entry.get("active")), on_roster, hospital, state, glass)


def new_context(deps: Deps, token: str | None, patient: str, endpoint: str) -> AccessContext:
    requester, why = requester_of(deps, token)
    ctx = AccessContext(requester=requester, patient=patient, endpoint=endpoint)
    ctx.reason = why if requester is None else ctx.reason
    return ctx


@asynccontextmanager
async def request(deps: Deps, ctx: AccessContext) -> AsyncIterator[AccessContext]:
    """One audited patient request; a refusal's reason lands in the access event."""
    async with deps.auditor.audited(ctx):
        try:
            yield ctx
        except Rejected as exc:
            ctx.verdict, ctx.reason = Verdict.REJECT, exc.detail
            raise
        except Exception:
            ctx.verdict, ctx.reason = Verdict.REJECT, "internal error"
            raise


def refuse(ctx: AccessContext) -> Rejected:
    return (Unauthorized if ctx.requester is None else Forbidden)(ctx.reason)


def check_cid(cid: str) -> None:
    if not is_valid_cid(cid):
        raise InvalidInput("malformed CID: 13 digits with a valid check digit expected")


# --- reading ----------------------------------------------------------------------------


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
        entries = await visible(deps, ctx, index)
        for e in entries:
            access.will_see(ctx, e)
        return summary(cid, entries)


async def declare_break_glass(
    deps: Deps, token: str | None, cid: str, read_reason: Callable[[], str]
) -> dict[str, Any]:
    """Declare an emergency for this patient: audited at once, time-limited."""
    ctx = new_context(deps, token, cid, "break-glass")
    ctx.purpose = access.EMERGENCY
    async with request(deps, ctx):
        check_cid(cid)
        reason = read_reason()
        facts = await facts_for(deps, ctx.requester, cid)
        if access.may_act(ctx, facts) is Verdict.REJECT:
            raise refuse(ctx)
        requester = ctx.requester
        assert requester is not None
        until = facts.now + timedelta(seconds=deps.settings.break_glass_ttl_s)
        await deps.glass.declare(requester.licence, requester.hospital, cid, reason,
                                 facts.now, until)  # fmt: skip
        ctx.break_glass = BreakGlass(reason, until)
        ctx.reason = "break-glass declared"
        await deps.auditor.security(
            BreakGlassDeclared(physician=requester.licence, hospital=requester.hospital,
                               time=facts.now, patient=cid, reason=reason, until=until)
        )  # fmt: skip
        return {"patient": cid, "hospital": requester.hospital, "until": until.isoformat()}


def _patient_param(pairs: Pairs) -> str:
    try:
        value = single(pairs, "patient") or ""
    except InvalidInput:
        return ""
    return value.removeprefix("Patient/")


# --- events -----------------------------------------------------------------------------


async def on_stored_batch(charts: ChartStore, sources: list[SourceMessage]) -> Outcomes:
    """Merge stored records into their charts: one merge per (patient, source) per batch."""
    outcomes, events = envelopes(sources)
    changed: dict[tuple[str, str], list[StoredRecord]] = {}
    for index, envelope in events:
        try:
            stored = RecordsStored.of(envelope)
        except Rejected as exc:
            outcomes[index] = exc
            continue
        changed.setdefault((stored.patient, stored.hospital), []).extend(stored.records)
    if changed:
        listed = await charts.indexes(sorted({patient for patient, _ in changed}))
        for (patient, hospital), records in changed.items():
            await charts.merge(patient, hospital, records, listed[patient].get(hospital))
    return outcomes
