"""Break-glass: a physician declares an emergency for one patient, with a written reason.

The declaration is stored for (licence, hospital, patient) until
``HEALTHLINK_BREAK_GLASS_TTL_S`` from now (declaring again renews it), published
at once as a security event, and audited as an access event. Every read under it
is audited as break-glass (``access.complete``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from services.query import access
from services.query.access import BreakGlass, Verdict
from services.query.handlers import Deps, check_cid, facts_for, new_context, refuse, request
from shared.events import BreakGlassDeclared
from shared.events.access import EMERGENCY


async def declare_break_glass(
    deps: Deps, token: str | None, cid: str, read_reason: Callable[[], str]
) -> dict[str, Any]:
    """Declare an emergency for this patient: audited at once, time-limited."""
    ctx = await new_context(deps, token, cid, "break-glass")
    ctx.purpose = EMERGENCY
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
