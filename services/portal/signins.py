"""The SMART sign-in the physicians' viewer and the patient portal share (docs/portal.md,
"Sign-in"): a pending sign-in (its ``state`` and PKCE verifier kept here, behind a
cookie), the code traded once for the token, and the access token renewed with its
rotating refresh token before it ends. Each app opens its own kind of session from what
the code bought (``handlers.finish_sign_in``, ``patient_smart.finish_sign_in``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from services.portal.domain import PendingSignIn, Session
from services.portal.errors import (
    NotSignedIn,
    SignInDenied,
    SignInExpired,
    SignInFailed,
    SignInState,
)
from services.portal.patient_views import PatientSession
from services.portal.repository import Sessions
from services.portal.smart import SignedIn, SmartApp

PENDING_TTL_S = 600  # as long as the auth service keeps a pending sign-in
RENEW_S = 30  # an access token ending sooner than this is renewed before a call

S = TypeVar("S", Session, PatientSession)


async def begin(
    pending: Sessions[PendingSignIn], smart: SmartApp, now: float, lang: str
) -> tuple[str, str]:
    """A new sign-in: the pending sign-in's id (the app's sign-in cookie) and the auth
    service's authorization URL (code + PKCE S256, in the page's language)."""
    started = PendingSignIn(
        state=secrets.token_urlsafe(32),
        verifier=secrets.token_urlsafe(64),
        expires_at=now + PENDING_TTL_S,
    )
    url = await smart.authorization_url(started.state, started.verifier, lang)
    return await pending.open(started), url


async def trade(
    pending: Sessions[PendingSignIn],
    smart: SmartApp | None,
    pending_id: str | None,
    params: dict[str, str],
) -> SignedIn:
    """The auth service sent the browser back: the state checked, the code traded for the
    tokens (server-side). The pending sign-in is used once, whatever the answer."""
    found = await pending.find(pending_id) if pending_id else None
    if found is None:
        raise SignInExpired("no sign-in is pending in this browser: start again")
    if not hmac.compare_digest(params.get("state", "").encode(), found.state.encode()):
        raise SignInState("the sign-in's state does not match: start again")
    await pending.close(pending_id or "")
    error = params.get("error")
    if error == "access_denied":
        raise SignInDenied("the sign-in was cancelled")
    if error or not params.get("code"):
        raise SignInFailed(f"the sign-in service answered {(error or 'no code')[:40]!r}")
    if smart is None:
        raise SignInFailed("this page has no sign-in service")
    return await smart.exchange(params["code"], found.verifier)


def lifetime(signed_in: SignedIn, session_ttl_s: float) -> float:
    """How long the session opened from ``signed_in`` lasts: the app's session lifetime
    with a refresh token, else no longer than the access token."""
    if signed_in.refresh_token is None:
        return min(session_ttl_s, signed_in.expires_in)
    return session_ttl_s


async def fresh(
    smart: SmartApp | None,
    sessions: Sessions[S],
    session_id: str,
    session: S,
    clock: Callable[[], float],
) -> S:
    """The session with an access token good for the next call: renewed with the refresh
    token (rotated) when it ends within ``RENEW_S``; refused: ``NotSignedIn``."""
    if session.refresh_token is None or session.token_expires_at - RENEW_S > clock():
        return session
    if smart is None:
        raise NotSignedIn("the sign-in cannot be renewed: sign in again")
    try:
        renewed = await smart.refresh(session.refresh_token)
    except SignInFailed as exc:
        raise NotSignedIn("the sign-in could not be renewed: sign in again") from exc
    session = replace(
        session,
        token=renewed.token,
        refresh_token=renewed.refresh_token or session.refresh_token,
        token_expires_at=clock() + renewed.expires_in,
    )
    await sessions.replace(session_id, session)
    return session
