"""What the edges of the portal's three pages share (the physicians' viewer, the patient
portal, the hospital console): cookies, the CSRF check, the language, and a page's
sessions (``PageSessions``: which cookie names the session, where its use cases' deps
are; docs/portal.md).

A session cookie is the only credential a browser holds (HttpOnly, SameSite=Strict,
Secure over https); every change carries the CSRF token in ``x-csrf-token`` (the
session's, or before sign-in the anonymous page's ``hl_csrf`` double-submit token) and,
when the browser sends one, an ``Origin`` of this site.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from services.portal.domain import language_of
from services.portal.errors import CsrfRefused
from services.portal.repository import session_ref
from services.portal.signins import PENDING_TTL_S
from shared.errors import HealthLinkError
from shared.logging import get_logger

CSRF_COOKIE = "hl_csrf"
LANG_COOKIE = "hl_lang"
CSRF_HEADER = "x-csrf-token"

log = get_logger(__name__)


class Language(BaseModel):
    lang: Literal["th", "en"]


def secure_cookies(request: Request) -> bool:
    return bool(request.app.state.settings.portal_cookie_secure) or request.url.scheme == "https"


def set_cookie(
    request: Request, response: Response, name: str, value: str, max_age: int, path: str = "/"
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


def to_sign_in(
    request: Request, url: str, cookie: str, callback: str, pending_id: str
) -> RedirectResponse:
    """The browser sent to the auth service's ``url``; the pending sign-in's id in
    ``cookie`` (HttpOnly, only to the ``callback`` path, as long as a pending sign-in,
    and SameSite=Lax: it must come back on the auth service's redirect, from another
    site)."""
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        cookie,
        pending_id,
        max_age=PENDING_TTL_S,
        path=callback,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    return response


@dataclass(frozen=True)
class SignInDoors:
    """A page's two sign-in stops (the viewer's ``/signin`` and ``/callback``, the patient
    portal's): a failure goes back to ``home`` as ``?signin-error=<code>`` (a page, never a
    JSON error), logged by its code only (no parameter, code or token)."""

    page: str  # in the log: viewer, patient
    home: str
    pending_cookie: str
    callback: str
    session_cookie: str
    session_path: str = "/"

    def failed(self, step: str, exc: HealthLinkError) -> RedirectResponse:
        log.info(f"{self.page} sign-in not {step}", reason=exc.code)
        return RedirectResponse(f"{self.home}?signin-error={exc.code}", status_code=303)

    async def start(
        self, request: Request, started: Awaitable[tuple[str, str]]
    ) -> RedirectResponse:
        """To the auth service (``started``: the pending sign-in's id and the URL)."""
        try:
            pending_id, url = await started
        except HealthLinkError as exc:
            return self.failed("started", exc)
        return to_sign_in(request, url, self.pending_cookie, self.callback, pending_id)

    async def finish(
        self, request: Request, finished: Awaitable[tuple[str, Any]], ttl: int
    ) -> RedirectResponse:
        """Back from the auth service (``finished``: the new session's id first): the
        session's cookie set and the pending one dropped, or the failure's code."""
        try:
            session_id, _ = await finished
        except HealthLinkError as exc:
            response = self.failed("completed", exc)
        else:
            response = RedirectResponse(self.home, status_code=303)
            set_cookie(request, response, self.session_cookie, session_id, ttl, self.session_path)
        response.delete_cookie(
            self.pending_cookie, path=self.callback, httponly=True, samesite="lax"
        )
        return response


def check_page_token(request: Request, session_csrf: str | None) -> None:
    """Same origin (when the browser says), and the CSRF token of the session (signed
    in) or of the anonymous page (the ``hl_csrf`` cookie) in ``x-csrf-token``."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise CsrfRefused("this request did not come from the portal's page")
    expected = session_csrf or request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRefused("the page's CSRF token is missing or wrong: reload the page")


def page_language(request: Request) -> str:
    """The page's language: the ``hl_lang`` cookie, else Accept-Language, else Thai."""
    return language_of(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def page_csrf(request: Request, response: Response, fresh: bool = False) -> str:
    """The anonymous page's CSRF token (double submit with the ``hl_csrf`` cookie); a new
    one when ``fresh`` (after a sign-out)."""
    csrf = (None if fresh else request.cookies.get(CSRF_COOKIE)) or secrets.token_urlsafe(32)
    set_cookie(request, response, CSRF_COOKIE, csrf, 86_400)
    return csrf


def remember_language(request: Request, response: Response, lang: str) -> dict[str, str]:
    """The ``hl_lang`` cookie, for a year (every page of the portal reads it)."""
    set_cookie(request, response, LANG_COOKIE, lang, 365 * 86_400)
    return {"lang": lang}


S = TypeVar("S")
# what a page's API answers about its session: (session or None, language, CSRF token)
View = Callable[[Any, str, str], dict[str, Any]]


@dataclass(frozen=True)
class PageSessions(Generic[S]):
    """One page's sessions: ``deps_of`` names the ``app.state`` attribute holding its use
    cases' deps (with their ``sessions``), ``cookie`` and ``path`` its session cookie."""

    deps_of: str
    cookie: str
    path: str = "/"

    def deps(self, request: Request) -> Any:
        return getattr(request.app.state, self.deps_of)

    def sid(self, request: Request) -> str | None:
        return request.cookies.get(self.cookie)

    async def find(self, request: Request) -> S | None:
        session_id = self.sid(request)
        found: S | None = await self.deps(request).sessions.find(session_id) if session_id else None
        return found

    async def check_csrf(self, request: Request) -> None:
        """A change comes from this page (``check_page_token`` with this page's session)."""
        session: Any = await self.find(request)
        check_page_token(request, session.csrf if session else None)

    async def answer(self, request: Request, response: Response, view: View) -> dict[str, Any]:
        """Who is signed in, the page's language and the CSRF token its changes send."""
        session: Any = await self.find(request)
        csrf = session.csrf if session else page_csrf(request, response)
        return view(session, page_language(request), csrf)

    def opened(
        self, request: Request, response: Response, session_id: str, session: Any, view: View
    ) -> dict[str, Any]:
        """The cookie of a session just opened, and the page's view of it."""
        ttl = self.deps(request).session_ttl_s
        set_cookie(request, response, self.cookie, session_id, ttl, self.path)
        return view(session, page_language(request), session.csrf)

    async def end(self, request: Request, response: Response, view: View) -> dict[str, Any]:
        """Sign out: the session (and the credential it holds) is forgotten, then the
        page's ``signed_out`` runs (the viewer and the patient portal revoke the
        session's refresh token at the auth service, best effort)."""
        session_id = self.sid(request)
        if session_id:
            deps = self.deps(request)
            session = await deps.sessions.find(session_id)
            await deps.sessions.close(session_id)
            if session is not None:
                await deps.signed_out(session, session_ref(session_id))
        response.delete_cookie(self.cookie, path=self.path, httponly=True, samesite="strict")
        return view(None, page_language(request), page_csrf(request, response, fresh=True))
