"""An in-memory query service for the portal's unit tests (the ``QueryApi`` port)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.portal.errors import (
    LockedOut,
    NotOnRoster,
    NotSignedIn,
    QueryUnavailable,
    Refused,
    SignInRefused,
)

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
            code={"coding": [{"code": "4548-4", "display": "HbA1c"}]},
            effectiveDateTime=f"{day}T09:00:00+07:00",
            valueQuantity={"value": value, "unit": "%"},
            status="final",
        )
        for day, value in (("2025-01-10", 7.2), ("2025-06-10", 6.8))
    ),
    resource(
        "AllergyIntolerance",
        code={"text": "Penicillin"},
        recordedDate="2020-02-02",
        criticality="high",
    ),
    resource(
        "Encounter", type=[{"text": "ผู้ป่วยนอก"}], period={"start": "2025-06-10T08:00:00+07:00"}
    ),
]


@dataclass
class FakeQuery:
    """Licence 10001 with PIN 2468 on 11535's roster; consent for CONSENTED only."""

    failures: int = 0
    tokens: set[str] = field(default_factory=set)
    reads: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False

    async def sign_in(self, licence: str, pin: str, hospital: str) -> tuple[str, int]:
        if self.down:
            raise QueryUnavailable("connect error")
        if self.failures >= 5:
            raise LockedOut("too many failed sign-ins; try again later")
        if (licence, pin) != (LICENCE, PIN):
            self.failures += 1
            raise SignInRefused("licence number or PIN is wrong")
        if hospital != HOSPITAL:
            raise NotOnRoster("ask your hospital's staff to add you to its roster")
        token = f"query-token-{len(self.tokens)}"
        self.tokens.add(token)
        return token, 900

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
            "entry": [{"resource": r} for r in RECORD],
        }
