"""An in-memory query service and auth service for the portal's unit tests (the
``QueryApi`` and ``SmartApp`` ports)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from services.portal.errors import NotSignedIn, Refused, SignInFailed, Unavailable
from services.portal.patient_backends import outcome_error
from services.portal.smart import SignedIn
from shared.fhir import LIMIT_SYSTEM

HOSPITAL = "11535"
LICENCE, PIN = "10001", "2468"
CONSENTED, NOT_CONSENTED = "1101700230708", "3100503368591"


def resource(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "id": f"{kind}-{len(fields)}-{sorted(fields)}",
        "meta": {"source": "urn:healthlink:hospital:10670"},
        **fields,
    }


RECORD = [
    resource("Patient", identifier=[{"value": CONSENTED}]),
    resource(
        "Condition",
        code={"coding": [{"code": "E11.9", "display": "Type 2 diabetes mellitus"}]},
        onsetDateTime="2024-03-01",
    ),
    *(
        resource(
            "Observation",
            code={"coding": [{"system": "http://loinc.org", "code": "4548-4", "display": "HbA1c"}]},
            effectiveDateTime=f"{day}T09:00:00+07:00",
            valueQuantity={"value": value, "unit": "%"},
            referenceRange=[{"low": {"value": 4.0}, "high": {"value": 5.6}}],
            status="final",
        )
        for day, value in (("2025-01-10", 7.2), ("2025-06-10", 6.8))
    ),
    resource(
        "AllergyIntolerance",
        code={"text": "Penicillin"},
        recordedDate="2020-02-02",
        criticality="high",
        reaction=[{"manifestation": [{"coding": [{"display": "Anaphylaxis"}]}]}],
    ),
    resource(
        "Encounter",
        type=[{"text": "ผู้ป่วยนอก"}],
        period={"start": "2025-06-10T08:00:00+07:00"},
        **{"class": {"code": "AMB", "display": "ambulatory"}},
    ),
]

# What query says a read under consent works under (services/query/limits.py): the
# patient chose hospitals and does not share sensitive data (an ignored parameter too).
LIMITS = {
    "resourceType": "OperationOutcome",
    "issue": [
        {"severity": "warning", "code": "not-supported", "diagnostics": "ignored: colour"},
        *(
            {
                "severity": "information",
                "code": "informational",
                "details": {"coding": [{"system": LIMIT_SYSTEM, "code": code}]},
                "diagnostics": f"limit {code}",
            }
            for code in ("chosen-hospitals", "sensitive-not-shared")
        ),
    ],
}


@dataclass
class FakeQuery:
    """Consent for CONSENTED only; the tokens ``FakeSmartApp`` gave are valid."""

    tokens: set[str] = field(default_factory=set)
    reads: list[tuple[str, str]] = field(default_factory=list)
    glass: list[tuple[str, str]] = field(default_factory=list)

    async def everything(self, token: str, cid: str) -> dict[str, Any]:
        self.reads.append((token, cid))
        if token not in self.tokens:
            raise NotSignedIn("token expired")
        if cid != CONSENTED:
            raise Refused("patient has not consented")
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(RECORD),
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in RECORD]
            + [{"resource": LIMITS, "search": {"mode": "outcome"}}],
        }

    async def break_glass(self, token: str, cid: str, reason: str) -> dict[str, Any]:
        """Only for CONSENTED (a patient who never consented stays closed)."""
        if token not in self.tokens:
            raise NotSignedIn("token expired")
        if cid != CONSENTED:
            raise Refused("patient has not consented")
        self.glass.append((cid, reason))
        return {"patient": cid, "until": "2025-06-10T09:00:00+07:00"}

    async def everything_pages(self, token: str, cid: str) -> dict[str, Any]:
        """Every page, as one collection (the patient portal's "my record")."""
        bundle = await self.everything(token, cid)
        entries = [
            {"resource": e["resource"]} for e in bundle["entry"] if e["search"]["mode"] != "outcome"
        ]
        return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class FakeSmartApp:
    """The auth service as the viewer sees it: ``approve`` is the physician signing in
    on its page (licence 10001 at 11535) and gives the code of the latest request; the
    exchange checks the PKCE verifier and gives a token ``FakeQuery`` takes."""

    query: FakeQuery
    requests: list[dict[str, str]] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)  # code -> PKCE challenge
    refuse_codes: bool = False
    refreshes: dict[str, str] = field(default_factory=dict)  # refresh token -> its licence
    down: bool = False  # the auth service does not answer
    revoked: list[str] = field(default_factory=list)  # refresh tokens revoked (RFC 7009)

    async def authorization_url(self, state: str, verifier: str, lang: str) -> str:
        if self.down:
            raise SignInFailed("the sign-in service does not answer")
        params = {"state": state, "code_challenge": challenge_of(verifier), "ui_locales": lang}
        self.requests.append(params)
        return "http://auth.test/authorize?" + urlencode(params)

    def approve(self) -> str:
        code = f"code-{len(self.codes)}"
        self.codes[code] = self.requests[-1]["code_challenge"]
        return code

    async def exchange(self, code: str, verifier: str) -> SignedIn:
        challenge = self.codes.pop(code, None)
        if self.refuse_codes or challenge != challenge_of(verifier):
            raise SignInFailed("the code was refused: invalid_grant")
        return self._signed_in()

    async def refresh(self, refresh_token: str) -> SignedIn:
        if self.refreshes.pop(refresh_token, None) is None:  # rotated: used once
            raise SignInFailed("the code was refused: invalid_grant")
        return self._signed_in()

    async def revoke(self, refresh_token: str) -> None:
        if self.down:
            raise SignInFailed("the sign-in service does not answer")
        self.revoked.append(refresh_token)
        self.refreshes.pop(refresh_token, None)  # its family ends

    def _signed_in(self) -> SignedIn:
        token = f"smart-token-{len(self.query.tokens)}"
        self.query.tokens.add(token)
        refresh = f"refresh-{len(self.query.tokens)}"
        self.refreshes[refresh] = LICENCE
        return SignedIn(
            token=token, licence=LICENCE, hospital=HOSPITAL, expires_in=300, refresh_token=refresh
        )


# --- the patient portal's back ends (the ``PatientApi`` port): consent, audit, notify


DEV_SCAN = "dev-face-scan-ok"
HOSPITALS = [
    {"code": "10670", "name": "Siriraj Hospital", "role": "provider", "consent_mode": "standing"},
    {"code": "11535", "name": "Nopparat Hospital", "role": "consumer", "consent_mode": "per-visit"},
    {
        "code": "13781",
        "name": "Ramathibodi Hospital",
        "role": "provider",
        "consent_mode": "standing",
    },
]


def _refusal(status: int, detail: str) -> Exception:
    """What ``HttpPatientApi`` raises for the service's OperationOutcome."""
    return outcome_error(status, detail)


@dataclass
class FakePatientApi:
    """Patients registered 18+ (born before 2008), the tokens the (fake) auth service gave
    them, the consent of each patient, an access log and an inbox to fill."""

    born: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    consents: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_log: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False
    listed: list[dict[str, Any]] = field(default_factory=lambda: HOSPITALS)

    def _up(self, what: str, cid: str) -> None:
        self.calls.append((what, cid))
        if self.down:
            raise Unavailable("the consent service does not answer")

    def _patient(self, token: str, cid: str) -> dict[str, Any]:
        if self.tokens.get(token) != cid:
            raise _refusal(401, "token expired")
        return self.consents.setdefault(
            cid,
            {"all_hospitals": False, "hospitals": [], "allow_sensitive": False, "per_visit": []},
        )

    def _state(self, cid: str, changed: bool = True) -> dict[str, Any]:
        state = self.consents[cid]
        if changed:
            state["version"] = state.get("version", 0) + 1
        return {"cid": cid, **state}

    async def register(self, cid: str, birth_date: str) -> None:
        self._up("register", cid)
        if birth_date > "2008-01-01":
            raise _refusal(400, "patients must be 18 or older to join")
        if cid in self.born:
            raise _refusal(409, "this CID is already registered")
        self.born[cid] = birth_date

    async def hospitals(self) -> list[dict[str, Any]]:
        self._up("hospitals", "")
        return [dict(h) for h in self.listed]

    async def consent(self, token: str, cid: str) -> dict[str, Any]:
        self._patient(token, cid)
        return self._state(cid, changed=False)

    async def grant_hospital(self, token: str, cid: str, code: str) -> dict[str, Any]:
        state = self._patient(token, cid)
        if code not in {h["code"] for h in HOSPITALS}:
            raise _refusal(404, f"hospital {code} is not a participating hospital")
        state["hospitals"] = sorted({*state["hospitals"], code})
        return self._state(cid)

    async def revoke_hospital(self, token: str, cid: str, code: str) -> dict[str, Any]:
        state = self._patient(token, cid)
        state["hospitals"] = [c for c in state["hospitals"] if c != code]
        return self._state(cid)

    async def all_hospitals(self, token: str, cid: str, on: bool) -> dict[str, Any]:
        self._patient(token, cid)["all_hospitals"] = on
        return self._state(cid)

    async def sensitive(self, token: str, cid: str, allowed: bool) -> dict[str, Any]:
        self._patient(token, cid)["allow_sensitive"] = allowed
        return self._state(cid)

    async def add_visit(
        self, token: str, cid: str, requesting: str, sources: list[str], until: datetime
    ) -> dict[str, Any]:
        state = self._patient(token, cid)
        if until.utcoffset() is None:
            raise _refusal(400, "until must carry a time zone (ISO-8601 with offset)")
        visit = {
            "id": f"visit{len(state['per_visit'])}",
            "requesting_hospital": requesting,
            "sources": sources,
            "until": until.astimezone(UTC).isoformat(),
            "revoked": False,
        }
        state["per_visit"] = [*state["per_visit"], visit]
        return self._state(cid)

    async def revoke_visit(self, token: str, cid: str, visit_id: str) -> dict[str, Any]:
        state = self._patient(token, cid)
        if visit_id not in {v["id"] for v in state["per_visit"]}:
            raise _refusal(404, "no such per-visit consent (it may have expired)")
        for visit in state["per_visit"]:
            if visit["id"] == visit_id:
                visit["revoked"] = True
        return self._state(cid)

    async def revoke_everything(self, token: str, cid: str) -> dict[str, Any]:
        state = self._patient(token, cid)
        state.update(all_hospitals=False, hospitals=[], per_visit=[])
        return self._state(cid)

    async def accesses(self, token: str, cid: str, offset: int, count: int) -> list[dict[str, Any]]:
        self._patient(token, cid)
        return self.access_log.get(cid, [])[offset : offset + count]

    async def inbox(self, token: str, cid: str, offset: int, count: int) -> list[dict[str, Any]]:
        self._patient(token, cid)
        return self.notes.get(cid, [])[offset : offset + count]

    async def mark_read(self, token: str, cid: str, notification_id: str) -> None:
        self._patient(token, cid)
        for note in self.notes.get(cid, []):
            if note["id"] == notification_id:
                note["read"] = True
                return
        raise _refusal(404, "no such notification")


@dataclass
class FakePatientSmart(FakeSmartApp):
    """The auth service's patient sign-in as the patient portal sees it: ``approve`` is
    the patient ``cid`` signing in (CID, the code to the phone, the face scan); the token
    is one the fake consent, audit, notify (``patients``) and query services take."""

    patients: FakePatientApi | None = None
    cid: str = CONSENTED

    def _signed_in(self) -> SignedIn:
        token = f"patient-smart-token-{len(self.query.tokens)}"
        self.query.tokens.add(token)
        if self.patients is not None:
            self.patients.tokens[token] = self.cid
        refresh = f"patient-refresh-{len(self.query.tokens)}"
        self.refreshes[refresh] = self.cid
        return SignedIn(token, "", "", 300, refresh_token=refresh, patient=self.cid)
