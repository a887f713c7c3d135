"""The sign-in pages behind the authorization endpoint (routers only).

``GET /authorize`` validates the app's request and shows the sign-in page; each step
posts a CSRF-protected form; a refused step shows the same page again with the
reason (its 4xx status); the last step redirects back to the app (303) with the code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pymongo.errors import PyMongoError

from services.auth import authorize as steps
from services.auth import clients, patients, physicians
from services.auth.api import get_deps
from services.auth.domain import Interaction
from services.auth.handlers import Deps
from services.auth.oauth import Pairs
from services.auth.pages import language, render, step_page
from services.auth.web import (
    NO_STORE,
    FormError,
    client_address,
    describe,
    first,
    html,
    last,
    query_pairs,
    read_form,
    result_response,
)
from shared.errors import HealthLinkError
from shared.logging import get_logger

log = get_logger(__name__)
DepsDep = Annotated[Deps, Depends(get_deps)]
Step = Callable[[Interaction, Pairs, str], Awaitable[Response]]
router = APIRouter(prefix="/authorize", tags=["sign-in"])


async def page(
    deps: Deps,
    interaction: Interaction,
    lang: str,
    message: str = "",
    status: int = 200,
    **fields: str,
) -> Response:
    client = await clients.read_client(deps, interaction.client_id)
    subject = interaction.subject
    who = f"{subject.name} ({subject.ident})" if subject else ""
    body = render(
        step_page(interaction.step),
        lang,
        i=interaction,
        app=client.name,
        message=message,
        who=who,
        licence=fields.get("licence", ""),
        hospital=fields.get("hospital", ""),
    )
    return html(body, status)


def error_page(lang: str, message: str, status: int) -> Response:
    return html(render("error", lang, i=None, app="", message=message), status)


def back_to_app(location: str) -> Response:
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


async def form_step(request: Request, deps: Deps, step: Step) -> Response:
    """Read the form, find its interaction, run ``step``; a refusal re-shows the page."""
    accept = request.headers.get("accept-language")
    try:
        pairs = await read_form(request)
    except FormError as exc:
        return error_page(language(None, accept), str(exc), 400)
    lang = language(first(pairs, "lang"), accept)
    interaction_id = first(pairs, "interaction")
    cookie = request.cookies.get(steps.cookie_name(interaction_id))
    try:
        interaction = await steps.resume(deps, interaction_id, first(pairs, "csrf"), cookie)
    except HealthLinkError as exc:
        return error_page(lang, exc.detail, exc.status)
    try:
        return await step(interaction, pairs, lang)
    except HealthLinkError as exc:
        current = await deps.interactions.get(interaction.id) or interaction
        fields = {k: first(pairs, k) for k in ("licence", "hospital")}
        return await page(deps, current, lang, exc.detail, exc.status, **fields)
    except PyMongoError as exc:
        log.error("sign-in step failed", error=type(exc).__name__)
        return error_page(lang, "try again shortly", 503)


@router.get("")
async def read_authorize(request: Request, deps: DepsDep) -> Response:
    """Validate the app's authorization request and show the sign-in page."""
    accept = request.headers.get("accept-language")
    try:
        pairs = query_pairs(request)
    except FormError as exc:
        return error_page(language(None, accept), str(exc), 400)
    lang = language(first(pairs, "ui_locales")[:2] or None, accept)
    try:
        interaction = await steps.start(deps, pairs)
    except OAuth2Error as exc:
        if exc.redirect_uri:
            exc.state = first(pairs, "state") or None
            return result_response(exc())
        return error_page(lang, describe(exc), 400)
    except HealthLinkError as exc:
        return error_page(lang, exc.detail, exc.status)
    response = await page(deps, interaction, lang)
    response.set_cookie(
        steps.cookie_name(interaction.id),
        interaction.csrf,
        max_age=deps.settings.auth_interaction_ttl_s,
        path="/authorize",
        secure=deps.settings.auth_issuer.startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/physician")
async def create_physician_sign_in(request: Request, deps: DepsDep) -> Response:
    """A physician signs in: licence, PIN, the hospital they act for."""

    async def step(interaction: Interaction, pairs: Pairs, lang: str) -> Response:
        licence, pin, hospital = (first(pairs, k) for k in ("licence", "pin", "hospital"))
        address = client_address(request)
        subject = await physicians.sign_in(deps, address, licence, pin, hospital)
        location = await steps.signed_in(deps, interaction, subject)
        if location is None:
            return await page(deps, interaction, lang)
        return back_to_app(location)

    return await form_step(request, deps, step)


@router.post("/launch")
async def create_launch_patient(request: Request, deps: DepsDep) -> Response:
    """The signed-in physician picks the patient by CID (standalone launch)."""

    async def step(interaction: Interaction, pairs: Pairs, lang: str) -> Response:
        return back_to_app(await steps.pick_patient(deps, interaction, first(pairs, "cid")))

    return await form_step(request, deps, step)


@router.post("/patient/code")
async def create_patient_code(request: Request, deps: DepsDep) -> Response:
    """A patient asks for a one-time code to their phone."""

    async def step(interaction: Interaction, pairs: Pairs, lang: str) -> Response:
        cid = first(pairs, "cid")
        await patients.send_code(deps, interaction, client_address(request), cid)
        return await page(deps, interaction, lang)

    return await form_step(request, deps, step)


@router.post("/patient/session")
async def create_patient_session(request: Request, deps: DepsDep) -> Response:
    """The code from the phone opens the device session; the face scan comes next."""

    async def step(interaction: Interaction, pairs: Pairs, lang: str) -> Response:
        await patients.check_code(deps, interaction, first(pairs, "code"))
        return await page(deps, interaction, lang)

    return await form_step(request, deps, step)


@router.post("/patient/scan")
async def create_patient_scan(request: Request, deps: DepsDep) -> Response:
    """The face scan, checked by the consent service; then back to the app."""

    async def step(interaction: Interaction, pairs: Pairs, lang: str) -> Response:
        subject = await patients.check_scan(deps, interaction, first(pairs, "scan"))
        return back_to_app(await steps.finish(deps, interaction, subject))

    return await form_step(request, deps, step)


@router.post("/language")
async def update_language(request: Request, deps: DepsDep) -> Response:
    """Switch the page between Thai and English."""

    async def step(interaction: Interaction, pairs: Pairs, lang: str) -> Response:
        chosen = language(last(pairs, "lang"), None)
        return await page(deps, interaction, chosen)

    return await form_step(request, deps, step)


@router.post("/cancel")
async def delete_authorization(request: Request, deps: DepsDep) -> Response:
    """Cancel: back to the app with ``error=access_denied``."""

    async def step(interaction: Interaction, pairs: Pairs, lang: str) -> Response:
        return back_to_app(await steps.deny(deps, interaction))

    return await form_step(request, deps, step)
