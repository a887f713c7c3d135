"""Query use cases, the core: the dependencies, who is asking, charts fed by stored records.

Every patient request goes the same way: the bearer token names a requester
(``new_context``), the facts the rules need are read from local projections
(``facts_for``), and the whole request is one audited unit (``request``: exactly
one access event, allowed or denied). The use cases built on this live beside it:
``physicians.py`` (licences, sign-in, rosters), ``reads.py`` (FHIR reads and the
summary) and ``breakglass.py`` (declared emergencies).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from services.query.access import AccessContext, Facts, Requester, Verdict
from services.query.audit import Auditor
from services.query.exportstore import ExportJobs, MemoryExportJobs
from services.query.freshness import Freshness, Settled
from services.query.lockout import SignInFailures
from services.query.repository import BreakGlassLog, Charts, LicenceRegistry, Rosters
from services.query.settings import QuerySettings
from shared import tokens
from shared.auth import TokenVerifier
from shared.cid import is_valid_cid
from shared.errors import Forbidden, InvalidInput, Rejected, Unauthorized
from shared.events import StoredRecord
from shared.projections import ConsentProjection

Batch = dict[tuple[str, str], list[StoredRecord]]  # (patient, source hospital) -> records
MERGES_AT_ONCE = 8  # patients whose charts a batch merges at once


@dataclass
class Deps:
    registry: LicenceRegistry
    rosters: Rosters
    failures: SignInFailures
    glass: BreakGlassLog
    view: ConsentProjection
    charts: Charts
    auditor: Auditor
    secret: str
    token_ttl_s: int
    settings: QuerySettings
    clock: Callable[[], datetime]
    # Read your writes: a read waits for the charts to merge what was stored before it.
    freshness: Freshness = field(default_factory=Settled)
    # The auth service's keys, for SMART access tokens (None: only the platform's own).
    verifier: TokenVerifier | None = None
    exports: ExportJobs = field(default_factory=MemoryExportJobs)  # Patient/$export jobs


async def requester_of(
    deps: Deps, token: str | None, patient: str = ""
) -> tuple[Requester | None, str]:
    """The physician a bearer token names, or None and why not: a SMART access token
    of the auth service (a JWS: three parts) or the platform's own physician token."""
    if not token:
        return None, "not authenticated"
    if token.count(".") == 2 and deps.verifier is not None:
        return await smart_requester(deps.verifier, token, patient)
    try:
        claims = tokens.verify(deps.secret, tokens.PHYSICIAN, token)
        requester = Requester(str(claims["sub"]), str(claims.get("name", "")),
                              str(claims["hospital"]))  # fmt: skip
    except (Unauthorized, KeyError, TypeError, ValueError) as exc:
        return None, getattr(exc, "detail", "invalid token")
    return requester, "authenticated"


async def facts_for(deps: Deps, requester: Requester | None, cid: str) -> Facts:
    """What the rules decide from, read fresh (a removal or revocation applies at once)."""
    now = deps.clock()
    if requester is None or requester.patient is not None:  # a patient: nothing to look up
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


async def smart_requester(
    verifier: TokenVerifier, token: str, patient: str
) -> tuple[Requester | None, str]:
    """A physician's SMART access token: its licence (``fhirUser``), hospital and the
    scopes that apply to ``patient`` (``patient/`` ones only for the launched patient).
    The roster, licence and consent rules apply to it as to any physician."""
    try:
        principal = await verifier.verify(token)
    except Unauthorized as exc:
        return None, exc.detail
    if principal.patient and principal.fhir_user == f"Patient/{principal.patient}":
        own = principal.patient == patient
        scopes = tuple(s for s in principal.scopes if s.context == "patient" and own)
        return Requester("", "", "", scopes, patient=principal.patient), "authenticated"
    if principal.licence is None or principal.hospital is None:
        return None, "the token names no physician and hospital"
    launched = bool(patient) and principal.patient == patient
    scopes = tuple(s for s in principal.scopes if s.context == "user" or launched)
    requester = Requester(principal.licence, principal.name or "", principal.hospital, scopes)
    return requester, "authenticated"


async def new_context(deps: Deps, token: str | None, patient: str, endpoint: str) -> AccessContext:
    requester, why = await requester_of(deps, token, patient)
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


async def merge_stored(charts: Charts, batch: Batch) -> None:
    """Merge stored records into their charts: one merge per (patient, source), one index
    read for the whole batch. Merging keeps the highest rank per resource, so a
    redelivered or late batch changes nothing more.

    Patients are merged ``MERGES_AT_ONCE`` at a time (a patient's sources one after
    another: they share the patient's index document). A merge is a few round trips
    to the database; one after another, a bulk load's charts fell minutes behind its
    ingest (docs/performance.md). On a failure the other merges are cancelled and the
    first error is raised: the batch is not committed and comes again, and merges
    already done change nothing the second time."""
    if not batch:
        return
    sources: dict[str, list[tuple[str, list[StoredRecord]]]] = {}
    for (patient, hospital), records in batch.items():
        sources.setdefault(patient, []).append((hospital, records))
    listed = await charts.indexes(sorted(sources))
    waiting = iter(sorted(sources))

    async def merging() -> None:
        for patient in waiting:  # shared: each patient is taken by one worker
            for hospital, records in sources[patient]:
                await charts.merge(patient, hospital, records, listed[patient].get(hospital))

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(MERGES_AT_ONCE, len(sources))):
                group.create_task(merging())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
