"""Query use cases: sign-in, rosters, and reading a patient's records under consent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.query import access
from services.query.access import AccessContext, Requester, Verdict
from services.query.physicians import MongoLicenceRegistry, Rosters, pin_matches
from services.query.records import RecordReader, with_source
from shared import tokens, topics
from shared.broker import Publisher
from shared.cid import is_valid_cid
from shared.errors import Forbidden, InvalidInput, Unauthorized
from shared.events import make_event
from shared.logging import get_correlation_id
from shared.projections import ConsentProjection

SOURCE = "healthlink/query"


@dataclass
class Deps:
    registry: MongoLicenceRegistry
    rosters: Rosters
    view: ConsentProjection
    records: RecordReader
    publisher: Publisher
    secret: str
    token_ttl_s: int
    clock: Callable[[], datetime]


async def sign_in(deps: Deps, licence: str, pin: str, hospital: str) -> dict[str, Any]:
    entry = await deps.registry.get(licence)
    if entry is None or not entry.get("active") or not pin_matches(entry["pin_hash"], pin):
        raise Unauthorized("licence number or PIN is wrong")
    if not await deps.rosters.is_on(hospital, licence):
        raise Forbidden("ask your hospital's staff to add you to its roster")
    token = tokens.issue(
        deps.secret,
        tokens.PHYSICIAN,
        licence,
        deps.token_ttl_s,
        hospital=hospital,
        name=entry["name"],
    )
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": deps.token_ttl_s,
        "hospital": hospital,
    }


def requester_of(deps: Deps, token: str | None) -> Requester | None:
    if not token:
        return None
    try:
        claims = tokens.verify(deps.secret, tokens.PHYSICIAN, token)
    except Unauthorized:
        return None
    return Requester(
        licence=str(claims["sub"]),
        name=str(claims.get("name", "")),
        hospital=str(claims["hospital"]),
    )


@asynccontextmanager
async def audited(deps: Deps, ctx: AccessContext) -> AsyncIterator[AccessContext]:
    """Publish exactly one access event for the request, whatever happens inside."""
    try:
        yield ctx
    finally:
        data = access.complete(ctx)
        data["time"] = deps.clock().isoformat()
        data["correlation_id"] = get_correlation_id()
        event = make_event(
            "record.accessed",
            source=SOURCE,
            subject=ctx.patient[:32] or "-",
            data=data,
            correlation_id=get_correlation_id(),
        )
        await deps.publisher.publish(topics.ACCESS_EVENTS, event)


async def decide(deps: Deps, ctx: AccessContext) -> Verdict:
    requester = ctx.requester
    if requester is None:
        return access.start(ctx, False, None, None)
    on_roster = await deps.rosters.is_on(requester.hospital, requester.licence)
    hospital = await deps.view.hospital(requester.hospital)
    consent = await deps.view.consent(ctx.patient)
    return access.start(ctx, on_roster, hospital, consent)


async def everything(deps: Deps, token: str | None, cid: str) -> list[dict[str, Any]]:
    """All records the physician may see for this patient, newest first."""
    ctx = AccessContext(requester=requester_of(deps, token), patient=cid)
    async with audited(deps, ctx):
        if not is_valid_cid(cid):
            ctx.reason = "malformed CID"
            raise InvalidInput("CID must be 13 digits with a valid check digit")
        if await decide(deps, ctx) is Verdict.REJECT:
            raise (Unauthorized if ctx.requester is None else Forbidden)(ctx.reason)
        assert ctx.consent is not None
        docs = await deps.records.for_patient(cid, ctx.consent)
        return [with_source(doc) for doc in docs if access.can_see(ctx, doc)]
