"""What the patient portal's screens show, made from the back ends' answers (pure).

The page translates codes (roles, consent modes, categories, purposes, reasons) and
formats dates itself; here the consent, the hospitals, the access log and the inbox are
joined and trimmed to what the screens need — hospital names next to their codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.portal.domain import refusal_code

BANGKOK = ZoneInfo("Asia/Bangkok")
# Purposes of use (HL7 v3) the query service writes in an access event.
PURPOSES = {"TREAT": "treatment", "ETREAT": "emergency"}


@dataclass(frozen=True)
class PatientSession:
    """A signed-in patient: the patient's token (the auth service's SMART access token)
    stays here, on the server, with the refresh token that renews it
    (``token_expires_at``)."""

    token: str
    cid: str
    csrf: str
    expires_at: float
    refresh_token: str | None = None
    token_expires_at: float = float("inf")
    smart: bool = False  # signed in at the auth service: the query service takes it


def in_bangkok(value: datetime) -> datetime:
    """A time without an offset is Thai time (the page's date-time field has none)."""
    return value.replace(tzinfo=BANGKOK) if value.tzinfo is None else value


def names_of(hospitals: list[dict[str, Any]]) -> dict[str, str]:
    return {str(h.get("code")): str(h.get("name") or h.get("code")) for h in hospitals}


def hospital_rows(hospitals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The participating hospitals, by name: role and consent mode, active or not."""
    rows = [
        {
            "code": str(h.get("code", "")),
            "name": str(h.get("name") or h.get("code", "")),
            "role": h.get("role", "consumer"),
            "consent_mode": h.get("consent_mode", "standing"),
            "active": bool(h.get("active", True)),
            "joined_at": h.get("joined_at"),
        }
        for h in hospitals
    ]
    return sorted(rows, key=lambda row: (row["name"], row["code"]))


def consent_view(
    consent: dict[str, Any], hospitals: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """The consent screen: the switches, each hospital with whether it is chosen (by
    name, or through "all hospitals"), and the per-visit consents, live first."""
    names = names_of(hospitals)
    chosen = set(consent.get("hospitals") or [])
    every = bool(consent.get("all_hospitals"))
    rows = [
        {**row, "chosen": row["code"] in chosen, "covered": every or row["code"] in chosen}
        for row in hospital_rows(hospitals)
    ]
    # a hospital chosen earlier that has left the list still shows, so it can be removed
    rows += [
        {"code": code, "name": code, "role": None, "consent_mode": None, "active": False,
         "joined_at": None, "chosen": True, "covered": True}
        for code in sorted(chosen - set(names))
    ]  # fmt: skip
    visits = []
    for visit in consent.get("per_visit") or []:
        until = in_bangkok(datetime.fromisoformat(str(visit["until"])))
        live = not visit.get("revoked") and now < until
        visits.append(
            {
                "id": visit["id"],
                "requesting_hospital": visit["requesting_hospital"],
                "requesting_name": names.get(visit["requesting_hospital"], ""),
                "sources": [
                    {"code": code, "name": names.get(code, code)} for code in visit["sources"]
                ],
                "until": visit["until"],
                "revoked": bool(visit.get("revoked")),
                "live": live,
            }
        )
    visits.sort(key=lambda v: (not v["live"], v["until"]))
    return {
        "cid": consent.get("cid"),
        "version": consent.get("version", 0),
        "all_hospitals": every,
        "allow_sensitive": bool(consent.get("allow_sensitive")),
        "hospitals": rows,
        "visits": visits,
    }


def access_view(entry: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """One line of "who viewed my record": who, where, when, what, and why."""
    hospital = entry.get("hospital") or ""
    denied = entry.get("decision") == "deny"
    return {
        "id": entry.get("id"),
        "time": entry.get("time"),
        "physician": entry.get("physician"),
        "physician_name": entry.get("physician_name"),
        "hospital": hospital,
        "hospital_name": names.get(hospital, ""),
        "purpose": PURPOSES.get(str(entry.get("purpose")), "other"),
        "categories": list(entry.get("categories") or []),
        "count": int(entry.get("count") or 0),
        "decision": "deny" if denied else "permit",
        "reason": refusal_code(str(entry.get("reason"))) if denied else None,
        "reason_text": entry.get("reason") if denied else None,
        "break_glass": bool(entry.get("break_glass")),
        "break_glass_reason": entry.get("break_glass_reason"),
    }


INBOX_FIELDS = ("kind", "created_at", "read", "title_th", "body_th", "title_en", "body_en")


def inbox_view(entry: dict[str, Any]) -> dict[str, Any]:
    """One notification in both languages (the page shows the chosen one)."""
    view: dict[str, Any] = {"id": entry.get("id")}
    for name in INBOX_FIELDS:
        view[name] = entry.get(name)
    view["read"] = bool(view["read"])
    return view
