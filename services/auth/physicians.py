"""Physicians: the licence mirror, hospital rosters, and signing in with licence + PIN.

The sign-in **reserves an attempt before the PIN is checked** (``Attempts``: an
insert of one of ``auth_max_failures`` slot keys per licence and window), so however
many requests race, at most that many PINs are evaluated per window; a correct PIN
gives its slot back. Throttles (per address, overall) come first, before any read.
Moved here from the query service (``lockout.py``, ``physicians.py``), which drops
its copies in phase 2.
"""

from __future__ import annotations

from typing import Any

from services.auth.domain import Subject, Window, is_hospital, is_licence
from services.auth.errors import (
    BadCredentials,
    BadRequest,
    LicenceNotFound,
    LockedOut,
    NotOnRoster,
    Throttled,
)
from services.auth.handlers import Deps, change, publish
from services.auth.pins import is_argon2id
from shared.events import (
    LicenceChanged,
    LicenceState,
    OperatorActed,
    PhysicianAdded,
    PhysicianLockedOut,
    PhysicianRemoved,
    PhysicianSignedIn,
    RosterChanged,
    RosterState,
    SignInFailed,
)

PIN_SCOPE = "pin"


def check_licence(licence: str) -> None:
    if not is_licence(licence):
        raise BadRequest("a licence number is 3 to 8 digits")


def check_hospital(code: str) -> None:
    if not is_hospital(code):
        raise BadRequest("a hospital code is 5 digits")


async def read_licence(deps: Deps, licence: str) -> dict[str, Any]:
    check_licence(licence)
    version, state = await deps.states.latest("licences", licence)
    if not version:
        raise LicenceNotFound("licence is not in the Medical Council mirror")
    return {**state, "version": version}


async def load_licence(
    deps: Deps,
    operator: str,
    licence: str,
    name: str | None,
    pin: str | None,
    active: bool | None,
) -> dict[str, Any]:
    """Load or change a licence (operators): name, active, and the PIN (or its argon2id
    hash). A new licence needs a name and a PIN. Every change is an event."""
    check_licence(licence)
    version, current = await deps.states.latest("licences", licence)
    if not version and (not name or not pin):
        raise BadRequest("a new licence needs a name and a PIN")
    if pin is not None:
        pin_hash = pin if is_argon2id(pin) else await deps.checker.hash(pin)
        await deps.pins.set(licence, pin_hash)

    def apply(version: int, state: dict[str, Any]) -> tuple[dict[str, Any], LicenceChanged] | None:
        new = LicenceState(
            licence=licence,
            name=name or state.get("name", ""),
            active=state.get("active", True) if active is None else active,
        )
        stored = new.model_dump(mode="json")
        if stored == state:
            return None
        return stored, LicenceChanged(version=version + 1, state=new)

    after, state = await change(deps, "licences", licence, apply)
    if not version:
        await operator_acted(deps, operator, "licence.loaded", licence)
    else:
        if pin is not None:
            await operator_acted(deps, operator, "licence.pin_reset", licence)
        if after != version:
            detail = {
                "active": str(state["active"]).lower(),
                "was_active": str(current.get("active")).lower(),
            }
            await operator_acted(deps, operator, "licence.changed", licence, detail)
    return {**state, "version": after}


async def read_roster(deps: Deps, hospital: str) -> dict[str, Any]:
    check_hospital(hospital)
    version, state = await deps.states.latest("rosters", hospital)
    return {"hospital": hospital, "physicians": state.get("licences", []), "version": version}


async def add_to_roster(deps: Deps, actor: str, hospital: str, licence: str) -> dict[str, Any]:
    """Hospital staff (or operators) let a registered, active licence act for the hospital."""
    check_hospital(hospital)
    entry = await read_licence(deps, licence)
    if not entry["active"]:
        raise LicenceNotFound("this licence is not active")
    changed = await _roster(deps, hospital, licence, add=True)
    if changed:
        await publish(
            deps,
            PhysicianAdded(physician=licence, hospital=hospital, time=deps.now(), by=actor),
            licence,
        )
    return await read_roster(deps, hospital)


async def remove_from_roster(deps: Deps, actor: str, hospital: str, licence: str) -> dict[str, Any]:
    check_hospital(hospital)
    check_licence(licence)
    if await _roster(deps, hospital, licence, add=False):
        await publish(
            deps,
            PhysicianRemoved(physician=licence, hospital=hospital, time=deps.now(), by=actor),
            licence,
        )
    return await read_roster(deps, hospital)


async def _roster(deps: Deps, hospital: str, licence: str, *, add: bool) -> bool:
    def apply(version: int, state: dict[str, Any]) -> tuple[dict[str, Any], RosterChanged] | None:
        held = set(state.get("licences", []))
        if (licence in held) == add:
            return None
        licences = sorted(held | {licence}) if add else sorted(held - {licence})
        new = RosterState(hospital=hospital, licences=licences)
        return new.model_dump(mode="json"), RosterChanged(version=version + 1, state=new)

    before, _ = await deps.states.latest("rosters", hospital)
    after, _ = await change(deps, "rosters", hospital, apply)
    return after != before


async def is_on_roster(deps: Deps, hospital: str, licence: str) -> bool:
    _, state = await deps.states.latest("rosters", hospital)
    return licence in state.get("licences", [])


async def sign_in(deps: Deps, address: str, licence: str, pin: str, hospital: str) -> Subject:
    """Licence + PIN + hospital → the signed-in physician, or 400/401/403/429."""
    if not deps.throttle.allow("sign-in", address):
        raise Throttled("too many sign-in attempts from here; wait a minute")
    check_licence(licence)
    check_hospital(hospital)
    if not pin or len(pin) > 64:
        raise BadCredentials("licence number or PIN is wrong")
    now = deps.now()
    window = Window.at(now, deps.settings.auth_failure_window_s)
    limit = deps.settings.auth_max_failures
    slot = await deps.attempts.reserve(PIN_SCOPE, licence, window, limit)
    if slot is None:
        await publish(
            deps,
            SignInFailed(physician=licence, hospital=hospital, time=now, reason="locked-out"),
            licence,
        )
        raise LockedOut(f"too many failed sign-ins; try again after {window.ends:%H:%M} UTC")
    _, state = await deps.states.latest("licences", licence)
    pin_ok = await deps.checker.check(await deps.pins.get(licence), pin)
    if not pin_ok or not state.get("active"):
        await _failed(deps, licence, hospital, slot, window)
        raise BadCredentials("licence number or PIN is wrong")
    await deps.attempts.release(PIN_SCOPE, licence, window, slot)
    view = await deps.view.hospital(hospital)
    if view is None or not view.active or not await is_on_roster(deps, hospital, licence):
        await publish(
            deps,
            SignInFailed(physician=licence, hospital=hospital, time=now, reason="not-on-roster"),
            licence,
        )
        raise NotOnRoster("ask your hospital's staff to add you to its roster")
    await publish(deps, PhysicianSignedIn(physician=licence, hospital=hospital, time=now), licence)
    return Subject(
        kind="physician",
        ident=licence,
        name=str(state.get("name", "")),
        hospital=hospital,
        auth_time=int(now.timestamp()),
    )


async def _failed(deps: Deps, licence: str, hospital: str, slot: int, window: Window) -> None:
    """A wrong PIN keeps its slot; the one that held the window's last slot locks."""
    now = deps.now()
    failures = await deps.attempts.taken(PIN_SCOPE, licence, window)
    await publish(
        deps,
        SignInFailed(
            physician=licence,
            hospital=hospital,
            time=now,
            reason="bad-credentials",
            failures=failures,
        ),
        licence,
    )
    if slot == deps.settings.auth_max_failures - 1:
        await publish(
            deps,
            PhysicianLockedOut(
                physician=licence, hospital=hospital, time=now, failures=failures, until=window.ends
            ),
            licence,
        )


async def operator_acted(
    deps: Deps, operator: str, action: str, target: str, detail: dict[str, str] | None = None
) -> None:
    payload = OperatorActed(
        operator=operator, action=action, target=target, time=deps.now(), detail=detail or {}
    )
    await publish(deps, payload, operator)
