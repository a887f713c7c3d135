"""The FHIR interactions an off-the-shelf client makes, run against a live query service.

``interactions`` drives the API the way HAPI FHIR's generic client and fhirpy do
(``_format=json`` on requests, ``_include``, ``_revinclude``, ``_elements``,
``_summary=true``, ``subject=Patient/...``, reads by id,
``next`` links followed to the end) and keeps every FHIR body it got, so the HAPI
R4 validator can check them all in one run. An interaction passes when every
response is 2xx (and, once validated, has no validator error).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fhirpy import AsyncFHIRClient

from shared.cid import CID_SYSTEM

MAX_PAGES = 50


@dataclass
class Interaction:
    name: str
    statuses: list[int] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)
    error: str = ""
    validator_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            bool(self.statuses)
            and all(200 <= s < 300 for s in self.statuses)
            and (not self.error and not self.validator_errors)
        )


async def _get(http: httpx.AsyncClient, it: Interaction, url: str, **params: Any) -> Any:
    r = await http.get(url, params=params or None)
    it.statuses.append(r.status_code)
    body = r.json() if r.headers.get("content-type", "").find("json") >= 0 else None
    if isinstance(body, dict) and "resourceType" in body:
        it.bodies.append(body)
    return body


async def _pages(http: httpx.AsyncClient, it: Interaction, url: str, **params: Any) -> list[Any]:
    """A search and every ``next`` page after it (absolute links, followed as given)."""
    found = []
    body = await _get(http, it, url, **params)
    for _ in range(MAX_PAGES):
        if not isinstance(body, dict):
            break
        found.extend(e.get("resource") for e in body.get("entry", []))
        nxt = [link["url"] for link in body.get("link", []) if link["relation"] == "next"]
        if not nxt:
            break
        body = await _get(http, it, nxt[0])
    return found


def first_id(bodies: list[Any], rtype: str) -> str | None:
    for body in bodies:
        for e in body.get("entry", []) if body.get("resourceType") == "Bundle" else []:
            if e.get("resource", {}).get("resourceType") == rtype:
                return str(e["resource"]["id"])
    return None


async def interactions(base: str, token: str, cid: str, root: str) -> list[Interaction]:
    """Run every interaction; ``base`` is the FHIR base, ``root`` the service's URL."""
    headers = {"authorization": f"Bearer {token}", "accept": "application/fhir+json"}
    found: list[Interaction] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:

        async def run(name: str, step: Callable[[Interaction], Awaitable[object]]) -> None:
            await run_plain(found, name, step)

        p = {"patient": cid}
        await run("metadata", lambda it: _get(http, it, "/metadata"))
        await run("metadata _format=json", lambda it: _get(http, it, "/metadata", _format="json"))

        async def smart(it: Interaction) -> None:
            r = await http.get(f"{root}/.well-known/smart-configuration")
            it.statuses.append(r.status_code)
            if "token_endpoint" not in r.json():
                it.error = "no token_endpoint"

        await run("smart-configuration", smart)
        await run("$everything", lambda it: _get(http, it, f"/Patient/{cid}/$everything"))
        await run(
            "$everything paged to the end",
            lambda it: _pages(http, it, f"/Patient/{cid}/$everything", _count=7),
        )
        await run("Patient read", lambda it: _get(http, it, f"/Patient/{cid}"))
        await run(
            "Patient search by identifier",
            lambda it: _get(http, it, "/Patient", identifier=f"{CID_SYSTEM}|{cid}"),
        )
        searches: list[tuple[str, str, dict[str, str]]] = [
            ("Observation search", "/Observation", p),
            ("Observation subject=Patient/", "/Observation", {"subject": f"Patient/{cid}"}),
            ("Observation _format=json", "/Observation", {**p, "_format": "json"}),
            ("Observation _summary=count", "/Observation", {**p, "_summary": "count"}),
            ("Observation _include=Observation:encounter", "/Observation",
             {**p, "_include": "Observation:encounter"}),
            ("Observation date + _total", "/Observation",
             {**p, "date": "ge2000-01-01", "_total": "accurate"}),
            ("Observation unknown parameter (lenient)", "/Observation", {**p, "colour": "red"}),
            ("Condition onset-date", "/Condition", {**p, "onset-date": "le2100"}),
            ("Condition _lastUpdated", "/Condition", {**p, "_lastUpdated": "ge2000-01-01"}),
            ("Encounter _include=Encounter:subject", "/Encounter",
             {**p, "_include": "Encounter:subject"}),
            ("Observation _elements", "/Observation", {**p, "_elements": "code,value"}),
            ("Condition _summary=true", "/Condition", {**p, "_summary": "true"}),
            ("Encounter _revinclude, _summary=data", "/Encounter",
             {**p, "_revinclude": "Observation:encounter", "_summary": "data"}),
            ("Observation _revinclude=DiagnosticReport:result", "/Observation",
             {**p, "_revinclude": "DiagnosticReport:result"}),
            *(
                (f"{t} search", f"/{t}", p)
                for t in ("Immunization", "MedicationRequest", "AllergyIntolerance", "Procedure",
                          "DiagnosticReport")
            ),
        ]  # fmt: skip

        def search(path: str, params: dict[str, str]) -> Callable[[Interaction], Awaitable[object]]:
            return lambda it: _get(http, it, path, **params)

        for name, path, params in searches:
            await run(name, search(path, params))
        bodies = [b for it in found for b in it.bodies]
        for rtype in ("Observation", "Condition", "Encounter"):
            rid = first_id(bodies, rtype)

            async def read(it: Interaction, t: str = rtype, i: str | None = rid) -> None:
                if i is None:
                    raise LookupError(f"no {t} to read")
                await _get(http, it, f"/{t}/{i}")
                await _get(http, it, f"/{t}/{i}", _summary="true")

            await run(f"{rtype} read by id (and _summary=true)", read)

    client = AsyncFHIRClient(base, authorization=f"Bearer {token}")

    async def fhirpy_search(it: Interaction) -> None:
        resources = await client.resources("Observation").search(patient=cid).limit(5).fetch_all()
        it.statuses.append(200)
        it.bodies.extend(r.serialize() for r in resources[:3])

    async def fhirpy_read(it: Interaction) -> None:
        patient = await client.reference("Patient", cid).to_resource()
        it.statuses.append(200)
        it.bodies.append(patient.serialize())

    await run_plain(found, "fhirpy search, every page", fhirpy_search)
    await run_plain(found, "fhirpy Patient read", fhirpy_read)
    return found


async def run_plain(
    found: list[Interaction], name: str, step: Callable[[Interaction], Awaitable[object]]
) -> None:
    """Run one interaction and keep it in ``found`` (one that raises is counted failed)."""
    it = Interaction(name)
    try:
        await step(it)
    except Exception as exc:  # an interaction that fails is counted
        it.error = f"{type(exc).__name__}: {exc}"[:300]
    found.append(it)
