"""The authorization endpoint's steps, from ``GET /authorize`` to the redirect back.

1. ``start``: authlib's core validates the request (client, exact redirect URI,
   scopes, PKCE S256, ``aud``); it is kept as an ``Interaction`` with a CSRF token.
2. The person signs in on the page: a physician (``physicians.sign_in``, then, with
   ``launch/patient`` or ``patient/`` scopes, ``pick_patient``) or a patient
   (``patients``: code, then face scan).
3. ``finish``: authlib's core issues the code and the redirect; the interaction is
   used once (a use-once marker), so a replayed form cannot mint a second code.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from urllib.parse import urlencode

from services.auth.domain import (
    Interaction,
    Subject,
    in_future,
    is_cid,
    needs_patient,
    new_secret,
)
from services.auth.errors import (
    BadRequest,
    CsrfMismatch,
    InteractionNotFound,
    NotAllowed,
    PatientNotRegistered,
)
from services.auth.handlers import Deps, in_thread
from services.auth.oauth import FormRequest, Pairs

AUTHORIZE = "/authorize"
# What an authorization request may carry that the rest of the flow needs (others are
# ignored: they are never stored).
KEPT = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "launch",
    "ui_locales",
    "prompt",
)


def request_of(deps: Deps, pairs: Pairs) -> FormRequest:
    return FormRequest("GET", deps.settings.auth_issuer + AUTHORIZE, pairs, {})


async def start(deps: Deps, pairs: Pairs) -> Interaction:
    """Validate the app's request; the pending interaction the page carries on.

    Raises authlib's ``OAuth2Error``: with ``redirect_uri`` set it goes back to the
    app; without (unknown client, unregistered redirect URI) it is shown on the page.
    """
    client, redirect_uri, scope = await in_thread(
        deps, deps.server.check_authorization, request_of(deps, pairs)
    )
    params = {k: v for k, v in pairs[::-1] if k in KEPT}  # the first of a repeated one wins
    params["redirect_uri"] = redirect_uri
    interaction = Interaction(
        id=new_secret(),
        params=params,
        csrf=new_secret(),
        expires_at=in_future(deps.now(), deps.settings.auth_interaction_ttl_s),
        client_id=client.client_id,
        scope=scope,
    )
    await deps.interactions.put(interaction)
    return interaction


def cookie_name(interaction_id: str) -> str:
    """The browser's copy of the CSRF token, one per pending sign-in (several tabs)."""
    return f"hl_signin_{interaction_id[:12]}"


async def resume(deps: Deps, interaction_id: str, csrf: str, cookie: str | None) -> Interaction:
    """The pending interaction a form names, if the form's CSRF token and the browser's
    cookie (set with the page, ``SameSite=Lax``: a cross-site post does not carry it)
    both match it."""
    found = await deps.interactions.get(interaction_id) if interaction_id else None
    if found is None or found.expired(deps.now()):
        raise InteractionNotFound("this sign-in has expired; start again from the app")
    for given in (csrf, cookie or ""):
        if not given or not hmac.compare_digest(given.encode(), found.csrf.encode()):
            raise CsrfMismatch("the form is not from this sign-in; start again from the app")
    return found


async def signed_in(deps: Deps, interaction: Interaction, subject: Subject) -> str | None:
    """After a physician's sign-in: the redirect, or None when a patient is to be picked."""
    if needs_patient(subject, interaction.scope):
        interaction.subject = subject
        interaction.step = "patient"
        await deps.interactions.put(interaction)
        return None
    return await finish(deps, interaction, subject)


async def pick_patient(deps: Deps, interaction: Interaction, cid: str) -> str:
    """The physician's patient for a standalone launch (by CID)."""
    subject = interaction.subject
    if interaction.step != "patient" or subject is None or subject.kind != "physician":
        raise NotAllowed("sign in first")
    if not is_cid(cid):
        raise BadRequest("a CID is 13 digits with a valid check digit")
    if not await deps.patients.is_registered(cid):
        raise PatientNotRegistered("no patient is registered with this CID")
    return await finish(deps, interaction, replace(subject, patient=cid))


async def finish(deps: Deps, interaction: Interaction, subject: Subject) -> str:
    """Issue the code: the URL to send the browser back to the app with."""
    until = interaction.expires_at
    used = await in_thread(deps, deps.store.use_once, f"interaction:{interaction.id}", until)
    if not used:
        raise InteractionNotFound("this sign-in was already completed")
    pairs = list(interaction.params.items())
    _, _, headers = await in_thread(deps, deps.server.authorize, request_of(deps, pairs), subject)
    await deps.interactions.delete(interaction.id)
    return dict(headers)["Location"]


async def deny(deps: Deps, interaction: Interaction) -> str:
    """The person cancelled: back to the app with ``error=access_denied``."""
    await deps.interactions.delete(interaction.id)
    query = {"error": "access_denied", "error_description": "the user cancelled"}
    if state := interaction.params.get("state"):
        query["state"] = state
    redirect_uri = interaction.params["redirect_uri"]
    joiner = "&" if "?" in redirect_uri else "?"
    return f"{redirect_uri}{joiner}{urlencode(query)}"
