"""Bad bytes in every header a service reads and every query parameter: a 4xx, never a 500;
and every body over the limit refused before it is read.

Each service runs in-process once (its real lifespan on the real broker and database,
through ``httpx.ASGITransport``); every operation of its OpenAPI document is called
with non-ASCII text, binary bytes and control characters in each header the services
read (one at a time, so an early refusal does not hide a later reader), in each query
parameter it declares and a few it reads by hand, and with extreme dates. The inputs
are a fixed sample, so the whole walk takes seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from healthlink.apps import build_app
from shared import tokens
from shared.projections import ConsentProjection
from shared.settings import SERVICE_PORTS, Settings
from tests.support.badinput import backend_absent
from tests.support.credentials import admin_key, know
from tests.support.settings import TEST_ADMIN, TEST_SECRET

pytestmark = pytest.mark.integration

CID = "1101700230705"  # a valid CID (checksum) so requests pass path validation
HOSPITAL = "10670"
# A well-formed upload receipt, so GET /fhir/uploads/{receipt} reads its headers.
PATH_VALUES = {"cid": CID, "code": HOSPITAL, "rtype": "Observation", "receipt": "up-1"}

# No worker processes: the walk needs neither FHIR validation workers (ingest) nor the
# chart projector's child process (query), and starting them is most of the time.
LIGHT: dict[str, dict[str, object]] = {
    "ingest": {"validation_processes": 0},
    "query": {"query_projector": "inline"},
}
CONCURRENCY = 8  # requests in flight: most of a request's time is a database round trip

# Every header some service reads (grep request.headers / Header(...) in services/).
HEADERS = (
    "authorization",
    "x-correlation-id",
    "hl-hospital",
    "hl-signature",
    "hl-upload-id",
    "hl-request-id",
    "content-type",
    "accept",
    "accept-language",
    "cookie",
    "content-length",
)
# Latin-1 bytes as the ASGI server hands them over: non-ASCII text (UTF-8 encoded),
# binary bytes, control characters, an over-long value.
BAD_BYTES: tuple[bytes, ...] = (
    "Bearer é✓ไทย".encode(),
    b"\xff\xfe\x80\x00\x01\x7f\x1b[31m\r",
    b"A" * 9000,
)
# Query values: percent-encoded non-ASCII / binary / NUL, and dates at the edges.
BAD_QUERY = (
    "%C3%A9%E2%9C%93",
    "%FF%FE%00",
    "%00",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00%2B23:59",
    "99999999999999999999999",
    "-1",
)
# Parameters read from request.query_params by hand (FHIR search, OAuth /authorize).
EXTRA_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "date",
    "_lastUpdated",
    "_count",
    "_offset",
    "since",
    "_summary",
    "_elements",
    "_include",
    "_revinclude",
)


def concrete(path: str) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: PATH_VALUES.get(m.group(1), "x1"), path)


def operations(spec: dict[str, object]) -> list[tuple[str, str, list[str]]]:
    paths = spec["paths"]
    assert isinstance(paths, dict)
    found = []
    for path, item in paths.items():
        for method, op in item.items():
            if method not in {"get", "post", "put", "delete", "patch"}:
                continue
            if path in {"/readyz", "/healthz", "/metrics"}:  # 503 means not ready, not bad input
                continue
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            found.append((method.upper(), path, params))
    return found


def credentials(settings: Settings) -> list[bytes]:
    """No credential, the operator's, a patient's, a physician's and a hospital's admin key
    (so requests reach past the auth check to the code that reads the rest: the roster,
    the hospital's set-aside uploads)."""
    patient = tokens.issue(TEST_SECRET, tokens.PATIENT, CID, 300)
    physician = tokens.issue(
        TEST_SECRET, tokens.PHYSICIAN, "12345", 300, hospital=HOSPITAL, name="Dr"
    )
    hospital = admin_key(HOSPITAL)
    return [b"", f"Bearer {TEST_ADMIN}".encode(), f"Bearer {patient}".encode(),
            f"Bearer {physician}".encode(), f"Bearer {hospital}".encode()]  # fmt: skip


async def chunked(total: int, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def auths_header(auths: list[bytes]) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", auths[1]), (b"content-type", b"application/json")]


@pytest.mark.parametrize("service", list(SERVICE_PORTS))
async def test_bad_headers_and_parameters_never_answer_500(
    service: str, settings: Settings
) -> None:
    started = time.monotonic()
    failures: list[str] = []
    sent = 0
    app = build_app(service, settings, **LIGHT.get(service, {}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            # A 500 is answered (the error map) and counted here, not raised into the test.
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://test",
            timeout=30,
        ) as client,
    ):
        ops = operations(app.openapi())
        assert ops, f"{service} exposes no endpoints"
        if isinstance(getattr(app.state, "hospitals", None), ConsentProjection):
            await know(app.state.hospitals, HOSPITAL)  # its admin key reaches past the check
        auths = credentials(settings)

        async def call(
            method: str, url: str, headers: list[tuple[bytes, bytes]], what: str
        ) -> None:
            nonlocal sent
            sent += 1
            r = await client.request(method, url, headers=headers, content=b"{}")
            if r.status_code >= 500 and not backend_absent(service, r.status_code, r.content):
                failures.append(f"{what} -> {r.status_code}: {r.content[:200]!r}")

        tries: list[tuple[str, str, list[tuple[bytes, bytes]], str]] = []
        turn = 0
        for method, path, params in ops:
            url = concrete(path)
            for name in HEADERS:
                # Values and credentials take turns: every header of every operation gets
                # one bad value, each value and credential comes round on every service.
                value = BAD_BYTES[turn % len(BAD_BYTES)]
                auth = auths[(turn // len(BAD_BYTES)) % len(auths)]
                turn += 1
                headers = [(b"content-type", b"application/json")] if name != "content-type" else []
                if auth and name != "authorization":
                    headers.append((b"authorization", auth))
                headers.append((name.encode(), value))
                tries.append((method, url, headers, f"{method} {url} {name}={value[:20]!r}"))
            # Declared parameters get every bad value; the hand-read ones (FHIR search,
            # OAuth) only where they are read.
            reads_by_hand = path.startswith(("/authorize", "/fhir"))
            extra = EXTRA_PARAMS if method == "GET" and reads_by_hand else ()
            for param in (*params, *extra):
                for query in BAD_QUERY:
                    auth = auths[turn % len(auths)]
                    turn += 1
                    headers = [(b"content-type", b"application/json")]
                    if auth:
                        headers.append((b"authorization", auth))
                    target = f"{url}?{param}={query}"
                    tries.append((method, target, headers, f"{method} {target} ({auth[:12]!r})"))
        walk_started = time.monotonic()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def limited(
            method: str, url: str, headers: list[tuple[bytes, bytes]], what: str
        ) -> None:
            async with gate:
                await call(method, url, headers, what)

        await asyncio.gather(*(limited(*t) for t in tries))
        walk = time.monotonic() - walk_started
        # Body limits: every operation that takes a body refuses one over the limit
        # before reading it (413; an OperationOutcome on /fhir), with or without a length.
        limit = settings.max_body_bytes
        for method, path, _ in ops:
            if method not in {"POST", "PUT", "PATCH"}:
                continue
            url = concrete(path)
            own = settings.max_bundle_bytes if (service, path) == ("ingest", "/fhir") else limit
            for body in (b"x" * (own + 1), chunked(own + 1)):
                r = await client.request(method, url, content=body, headers=auths_header(auths))
                sent += 1
                if r.status_code != 413:
                    failures.append(f"{method} {url} with {own + 1} bytes -> {r.status_code}")
                elif path.startswith("/fhir") and b"OperationOutcome" not in r.content:
                    failures.append(f"{method} {url}: 413 is not an OperationOutcome")
    assert not failures, f"{len(failures)} of {sent} answered 5xx:\n" + "\n".join(failures[:40])
    elapsed = time.monotonic() - started
    print(f"{service}: {sent} requests in {walk:.1f} s ({elapsed:.1f} s with start and stop)")
    assert walk < 60, f"{service}: {sent} requests took {walk:.0f} s"
