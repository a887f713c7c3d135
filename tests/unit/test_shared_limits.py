"""Body limits (shared/limits.py) and the edge's handling of bad header bytes
(shared/http.py): refused before the handler reads anything, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from shared.http import bearer, correlation_of, install_correlation, install_error_handlers
from shared.limits import BodyLimit
from shared.logging import CORRELATION_HEADER

pytestmark = pytest.mark.unit
LIMIT = 1000


def make_app() -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    install_error_handlers(app)
    install_correlation(app)
    app.add_middleware(BodyLimit, limit=LIMIT, larger={"/fhir": 5 * LIMIT})
    reads: list[int] = []

    @app.post("/json")
    async def json_body(body: dict[str, str]) -> dict[str, int]:
        reads.append(len(body))
        return {"keys": len(body)}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        size = len(await request.body())
        reads.append(size)
        return {"size": size}

    @app.post("/fhir")
    async def fhir(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        reads.append(size)
        return {"size": size}

    @app.post("/fhir/Patient")
    async def fhir_patient(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/who")
    async def who(request: Request) -> dict[str, str]:
        return {"token": bearer(request)}

    return app, reads


async def chunks(total: int, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, list[int]]]:
    app, reads = make_app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client, reads


async def test_a_declared_length_over_the_limit_is_refused_before_the_handler(
    http: tuple[httpx.AsyncClient, list[int]],
) -> None:
    client, reads = http
    r = await client.post("/raw", content=b"x" * (LIMIT + 1))
    assert r.status_code == 413
    assert r.json()["error"] == "request_too_large"
    assert f"{LIMIT} bytes" in r.json()["detail"]
    assert reads == []


async def test_json_endpoints_are_refused_before_parsing(
    http: tuple[httpx.AsyncClient, list[int]],
) -> None:
    client, reads = http
    big = b'{"a": "' + b"x" * LIMIT + b'"}'
    json = {"content-type": "application/json"}
    assert (await client.post("/json", content=big, headers=json)).status_code == 413
    assert (await client.post("/json", content=b'{"a": "b"}', headers=json)).status_code == 200
    assert reads == [1]


async def test_a_streamed_body_is_counted_chunk_by_chunk(
    http: tuple[httpx.AsyncClient, list[int]],
) -> None:
    client, reads = http
    r = await client.post("/raw", content=chunks(LIMIT + 1))  # chunked: no Content-Length
    assert r.status_code == 413
    assert reads == []
    r = await client.post("/raw", content=chunks(LIMIT))
    assert r.status_code == 200 and r.json() == {"size": LIMIT}


async def test_fhir_paths_answer_an_operation_outcome_and_may_have_a_larger_limit(
    http: tuple[httpx.AsyncClient, list[int]],
) -> None:
    client, _ = http
    ok = await client.post("/fhir", content=b"x" * (3 * LIMIT))
    assert ok.status_code == 200 and ok.json() == {"size": 3 * LIMIT}
    for path, size in (("/fhir", 5 * LIMIT + 1), ("/fhir/Patient", LIMIT + 1)):
        for body in (b"x" * size, chunks(size)):
            r = await client.post(path, content=body)
            assert r.status_code == 413, path
            assert r.headers["content-type"].startswith("application/fhir+json")
            assert r.json()["resourceType"] == "OperationOutcome"


async def test_a_body_longer_than_its_declared_length_is_cut_off() -> None:
    app, reads = make_app()
    sent: list[dict[str, object]] = []
    messages = [
        {"type": "http.request", "body": b"x" * 600, "more_body": True},
        {"type": "http.request", "body": b"x" * 600, "more_body": False},
    ]

    async def receive() -> dict[str, object]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/raw", "raw_path": b"/raw",
        "query_string": b"", "headers": [(b"content-length", b"10")], "scheme": "http",
        "server": ("t", 80), "client": ("c", 1), "root_path": "", "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }  # fmt: skip
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 413 and reads == []


@pytest.mark.parametrize("length", [b"abc", b"-5", "\u00b2".encode(), b"1" * 30])
async def test_a_content_length_that_is_not_a_number_is_a_400(
    http: tuple[httpx.AsyncClient, list[int]], length: bytes
) -> None:
    client, reads = http
    r = await client.post("/raw", content=b"{}", headers=[(b"content-length", length)])
    assert r.status_code == 400 and reads == []


@pytest.mark.parametrize(
    "header",
    [
        "Bearer é✓".encode(),
        b"Bearer \xff\xfe\x00",
        b"Bearer " + b"a" * 9000,
        "Bearér token".encode(),
    ],
)
async def test_a_bearer_token_that_is_not_ascii_is_a_401(
    http: tuple[httpx.AsyncClient, list[int]], header: bytes
) -> None:
    client, _ = http
    r = await client.get("/who", headers=[(b"authorization", header)])
    assert r.status_code == 401, r.text


async def test_a_bad_correlation_id_is_replaced_not_echoed(
    http: tuple[httpx.AsyncClient, list[int]],
) -> None:
    client, _ = http
    good = await client.get("/who", headers={CORRELATION_HEADER: "req-1.a:b"})
    assert good.headers[CORRELATION_HEADER] == "req-1.a:b"
    for bad in ("é✓".encode(), b"\x00\x1b[31m", b"a b", b"x" * 200, b"\r\nset-cookie: x"):
        r = await client.get("/who", headers=[(CORRELATION_HEADER.encode(), bad)])
        assert r.status_code == 401
        echoed = r.headers[CORRELATION_HEADER]
        assert echoed.encode() != bad and len(echoed) == 32 and echoed.isalnum()


def test_correlation_ids() -> None:
    assert correlation_of("abc-1") == "abc-1"
    assert correlation_of(None) != correlation_of(None)
    assert correlation_of("ไทย") != "ไทย"
