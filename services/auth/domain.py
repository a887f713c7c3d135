"""The auth service's rules and value objects: clients, who signs in, which scopes a
client and a signed-in person may get, lockout windows. Pure: no I/O.

``Client`` and ``Subject`` have the methods authlib's server core calls on its client
and user models (``ClientMixin``, ``get_user_id``), so the core runs on them directly.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.auth import Scope, covered, parse_scope
from shared.cid import is_valid_cid

LICENCE = re.compile(r"^\d{3,8}$")
HOSPITAL = re.compile(r"^\d{5}$")
CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
ROLES = ("operator", "auditor")
LAUNCH_PATIENT = "launch/patient"
OFFLINE = "offline_access"
# Scopes that name no resource, and what each is for.
PLAIN_SCOPES = {
    "openid": "an id_token",
    "fhirUser": "the fhirUser claim",
    LAUNCH_PATIENT: "pick a patient at sign-in (standalone launch)",
    OFFLINE: "a refresh token",
    "online_access": "a refresh token",
}


class ClientKind(StrEnum):
    APP = "smart-app"  # a SMART app: authorization code + PKCE
    HOSPITAL = "hospital-system"  # a hospital's system: client_credentials, system/*
    OPERATOR = "operator-tool"  # one named operator's tool: client_credentials, roles


def digest(secret: str) -> str:
    """How codes, refresh tokens and session secrets are stored: SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_otp() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def is_licence(text: str) -> bool:
    return bool(LICENCE.match(text))


def is_hospital(text: str) -> bool:
    return bool(HOSPITAL.match(text))


def is_cid(text: str) -> bool:
    return is_valid_cid(text)


@dataclass(frozen=True)
class Client:
    """A registered OAuth client (authlib's ``ClientMixin`` methods)."""

    client_id: str
    kind: ClientKind
    name: str
    scope: str  # what it may ever be granted
    redirect_uris: tuple[str, ...] = ()
    jwks: dict[str, Any] | None = None  # public keys: confidential apps and systems
    hospital: str | None = None
    roles: tuple[str, ...] = ()
    active: bool = True

    @property
    def public(self) -> bool:
        return self.kind is ClientKind.APP and not self.jwks

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # SMART apps always send redirect_uri

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes this client may have (None: none of them)."""
        granted = narrow_scope(scope or "", self.scope)
        return granted or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match only

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # no shared secrets: public + PKCE, or private_key_jwt

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if not self.active:
            return False
        if self.public:
            return method == "none"
        return method == "private_key_jwt"

    def check_response_type(self, response_type: str) -> bool:
        return self.kind is ClientKind.APP and response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if not self.active:
            return False
        if self.kind is ClientKind.APP:
            return grant_type in ("authorization_code", "refresh_token")
        return grant_type == "client_credentials"

    def describe(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "kind": self.kind.value,
            "name": self.name,
            "scope": self.scope,
            "redirect_uris": list(self.redirect_uris),
            "jwks": self.jwks,
            "hospital": self.hospital,
            "roles": list(self.roles),
            "active": self.active,
            "token_endpoint_auth_method": "none" if self.public else "private_key_jwt",
        }


def narrow_scope(requested: str, allowed: str) -> str:
    """The requested scopes covered by ``allowed``, in the requested order."""
    allowed_parts = allowed.split()
    allowed_resources = [s for s in map(parse_scope, allowed_parts) if s is not None]
    kept: list[str] = []
    for part in dict.fromkeys(requested.split()):
        scope = parse_scope(part)
        if scope is None:
            if part in PLAIN_SCOPES and part in allowed_parts:
                kept.append(part)
        elif covered(scope, allowed_resources):
            kept.append(part)
    return " ".join(kept)


def resource_scopes(scope: str) -> list[Scope]:
    return [s for s in map(parse_scope, scope.split()) if s is not None]


@dataclass(frozen=True)
class Subject:
    """Who signed in at the authorization endpoint (authlib's user)."""

    kind: str  # "physician" or "patient"
    ident: str  # licence or CID
    name: str = ""
    hospital: str | None = None
    patient: str | None = None  # the launch context: the patient picked or the patient
    auth_time: int = 0
    session: str | None = None  # a patient's device session

    def get_user_id(self) -> str:
        return self.fhir_user

    @property
    def fhir_user(self) -> str:
        return f"{'Practitioner' if self.kind == 'physician' else 'Patient'}/{self.ident}"

    def to_doc(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ident": self.ident,
            "name": self.name,
            "hospital": self.hospital,
            "patient": self.patient,
            "auth_time": self.auth_time,
            "session": self.session,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Subject:
        return cls(
            kind=str(doc["kind"]),
            ident=str(doc["ident"]),
            name=str(doc.get("name") or ""),
            hospital=doc.get("hospital"),
            patient=doc.get("patient"),
            auth_time=int(doc.get("auth_time") or 0),
            session=doc.get("session"),
        )


def scope_for(subject: Subject, scope: str) -> str:
    """What a signed-in person gets of the app's scopes: a patient never ``user/``
    or ``system/`` scopes; nobody ``system/`` scopes through a sign-in page."""
    kept = []
    for part in scope.split():
        found = parse_scope(part)
        if (
            found is None
            or found.context == "patient"
            or (found.context == "user" and subject.kind == "physician")
        ):
            kept.append(part)
    return " ".join(kept)


def needs_patient(subject: Subject, scope: str) -> bool:
    """A physician with ``launch/patient`` or ``patient/`` scopes picks the patient."""
    if subject.kind != "physician" or subject.patient:
        return False
    has_patient_scope = any(s.context == "patient" for s in resource_scopes(scope))
    return LAUNCH_PATIENT in scope.split() or has_patient_scope


@dataclass(frozen=True)
class Window:
    """A fixed lockout window: ``index`` counts windows of ``length_s`` since the epoch."""

    index: int
    length_s: int

    @classmethod
    def at(cls, now: datetime, length_s: int) -> Window:
        return cls(int(now.timestamp()) // length_s, length_s)

    @property
    def ends(self) -> datetime:
        return datetime.fromtimestamp((self.index + 1) * self.length_s, UTC)


def slot_key(scope: str, who: str, window: Window, n: int) -> str:
    """One attempt's unique key: at most ``limit`` of them exist per window."""
    return f"{scope}:{who}:{window.index}:{n}"


@dataclass
class Interaction:
    """One authorization request between ``GET /authorize`` and the redirect back."""

    id: str
    params: dict[str, str]
    csrf: str
    expires_at: datetime
    client_id: str
    scope: str
    subject: Subject | None = None
    step: str = "sign-in"  # sign-in, patient, otp, scan
    otp: dict[str, Any] = field(default_factory=dict)  # cid, code digest, expires_at
    session: str | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def in_future(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)
