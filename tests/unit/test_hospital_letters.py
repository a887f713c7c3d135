"""A hospital's own set-aside uploads (``shared/hospital_letters.py``): only its uploads,
with its admin key, retried through the service that owns the upload topic and noted
as the hospital's retry. The dead-letter topic is a book in memory here (its pages: one
partition, the cursor the next index); tests/integration/test_hospital_letters_pages.py
pages the real topic, and the browser test reads and retries it through ingest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI

from shared import hospital_letters, topics
from shared.admin import DeadLetterBook
from shared.broker import RecordingPublisher
from shared.deadletter import RETRIED_BY, RETRY_OF, DeadLetter, DeadLetters, SourceMessage
from shared.deadletter_pages import Page, RetryLog
from shared.deadletter_reader import LetterReader
from shared.http import install_error_handlers
from shared.projections import ConsentProjection
from shared.settings import Settings
from tests.support.credentials import admin_key, know
from tests.support.settings import TEST_ADMIN, TEST_SECRET

pytestmark = pytest.mark.unit
HOSPITAL, OTHER = "10670", "13781"


def letter(letter_id: str, hospital: str, topic: str = topics.INGEST_UPLOADS) -> DeadLetter:
    headers = {"hl-hospital": hospital, "hl-signature": "sha256=abc", "hl-upload-id": letter_id}
    source = SourceMessage(topic, 0, 7, b"1101700230708", b'{"resourceType":"Bundle"}', headers)
    return DeadLetter(letter_id, "no-consent", "", "ingest", source, "2026-11-01T00:00:00+00:00")


def book() -> DeadLetterBook:
    return DeadLetterBook(
        letters=[
            letter("mine", HOSPITAL),
            letter("done", HOSPITAL),
            letter("theirs", OTHER),
            letter("event", HOSPITAL, topics.CONSENT_EVENTS),  # not an upload
        ],
        retried={"done": "2026-11-02T00:00:00+00:00"},
    )


def key(code: str) -> dict[str, str]:
    return {"authorization": f"Bearer {admin_key(code)}"}


async def app_of(service: str, publisher: RecordingPublisher) -> FastAPI:
    hospitals = ConsentProjection.in_memory()  # the service's hospital projection
    await know(hospitals, HOSPITAL, OTHER)
    settings = Settings(environment="test", token_secret=TEST_SECRET, admin_token=TEST_ADMIN)
    app = FastAPI()
    app.state.settings = settings
    dead_letters = DeadLetters(publisher, service, "")  # type: ignore[arg-type]
    app.state.runtime = SimpleNamespace(
        settings=settings, service=service, dead_letters=dead_letters, on_stop=[]
    )
    app.state.hospitals = hospitals
    app.state.security_publisher = publisher  # the hospital's retry is a security event
    install_error_handlers(app)
    app.include_router(hospital_letters.router)
    return app


@pytest.fixture
def publisher(monkeypatch: pytest.MonkeyPatch) -> RecordingPublisher:
    async def read_book(_: Settings, principal: str) -> DeadLetterBook:
        return book()

    async def read_page(
        reader: LetterReader,
        positions: dict[int, int],
        limit: int,
        keep: Callable[[DeadLetter], bool],
        retries: RetryLog | None = None,
    ) -> Page:
        letters = book()
        if retries is not None:
            retries.retried.update(letters.retried)
        start, taken, at = positions.get(0, 0), [], positions.get(0, 0)
        for at, found in enumerate(letters.letters[start:], start):
            if len(taken) == limit:
                break
            at += 1
            if keep(found):
                taken.append(found)
        end = len(letters.letters)
        return Page(taken, {0: at}, at < end, end, at - start)

    monkeypatch.setattr(hospital_letters, "read_book", read_book)
    monkeypatch.setattr(hospital_letters, "read_page", read_page)
    return RecordingPublisher()


@pytest.fixture
async def ingest(publisher: RecordingPublisher) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=await app_of("ingest", publisher))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
        yield client


def test_only_the_hospital_s_uploads_are_its_own() -> None:
    assert [x.id for x in hospital_letters.uploads_of(book(), HOSPITAL)] == ["mine", "done"]
    assert [x.id for x in hospital_letters.uploads_of(book(), HOSPITAL, "pending")] == ["mine"]
    assert [x.id for x in hospital_letters.uploads_of(book(), OTHER)] == ["theirs"]
    assert hospital_letters.uploads_of(book(), "11535") == []


async def test_a_hospital_lists_its_uploads_with_reasons_and_no_signature(
    ingest: httpx.AsyncClient,
) -> None:
    r = await ingest.get(f"/hospitals/{HOSPITAL}/deadletters", headers=key(HOSPITAL))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(e["id"], e["status"], e["reason"]) for e in body["entries"]] == [
        ("mine", "pending", "no-consent"),
        ("done", "retried", "no-consent"),
    ]
    assert "hl-signature" not in r.text and "1101700230708" not in r.text
    assert body["count"] == 2 and body["next"] is None and body["cursor"]


async def test_a_hospital_pages_through_its_uploads_with_the_next_link(
    ingest: httpx.AsyncClient,
) -> None:
    r = await ingest.get(f"/hospitals/{HOSPITAL}/deadletters?limit=1", headers=key(HOSPITAL))
    first = r.json()
    assert [e["id"] for e in first["entries"]] == ["mine"]
    assert first["next"].startswith(f"/hospitals/{HOSPITAL}/deadletters?limit=1&cursor=")
    second = (await ingest.get(first["next"], headers=key(HOSPITAL))).json()
    assert [e["id"] for e in second["entries"]] == ["done"]
    r = await ingest.get(f"/hospitals/{HOSPITAL}/deadletters?status=pending", headers=key(HOSPITAL))
    assert [e["id"] for e in r.json()["entries"]] == ["mine"]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "limit=x", "cursor=!!", "cursor=bm90LWpzb24", "status=new"]
)
async def test_a_bad_page_request_is_a_400_naming_it(ingest: httpx.AsyncClient, query: str) -> None:
    r = await ingest.get(f"/hospitals/{HOSPITAL}/deadletters?{query}", headers=key(HOSPITAL))
    assert r.status_code in (400, 422) and r.json()["resourceType"] == "OperationOutcome", r.text


@pytest.mark.parametrize(
    "bearer", [b"", f"Bearer {TEST_ADMIN}".encode(), key(OTHER)["authorization"].encode(),
               "Bearer é".encode()],
)  # fmt: skip
async def test_without_this_hospital_s_admin_key_nothing_is_shown_or_retried(
    ingest: httpx.AsyncClient, publisher: RecordingPublisher, bearer: bytes
) -> None:
    headers = {b"authorization": bearer} if bearer else {}
    r = await ingest.get(f"/hospitals/{HOSPITAL}/deadletters", headers=headers)
    assert r.status_code == 401, r.text
    r = await ingest.post(f"/hospitals/{HOSPITAL}/deadletters/mine/retry", headers=headers)
    assert r.status_code == 401, r.text
    assert publisher.raw == []


async def test_a_hospital_retries_its_own_upload_and_the_retry_says_who(
    ingest: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    r = await ingest.post(f"/hospitals/{HOSPITAL}/deadletters/mine/retry", headers=key(HOSPITAL))
    assert r.status_code == 200 and r.json() == {"retried": 1, "ids": ["mine"]}
    (upload, *_), (log, _, _, noted) = publisher.raw
    assert upload == topics.INGEST_UPLOADS and log == topics.DEAD_LETTER_RETRIES
    assert noted[RETRY_OF] == "mine" and noted[RETRIED_BY] == f"hospital:{HOSPITAL}"
    # and a security event under the hospital's name, before the retry was sent
    [(_, acted)] = [(t, e) for t, e in publisher.sent if e.name == "operator.acted"]
    assert (acted.data["operator"], acted.data["action"], acted.data["target"]) == (
        f"hospital:{HOSPITAL}",
        "deadletter.retried",
        "mine",
    )


@pytest.mark.parametrize("letter_id", ["theirs", "event", "nothing"])
async def test_another_hospital_s_letter_or_an_event_is_not_found(
    ingest: httpx.AsyncClient, publisher: RecordingPublisher, letter_id: str
) -> None:
    r = await ingest.post(
        f"/hospitals/{HOSPITAL}/deadletters/{letter_id}/retry", headers=key(HOSPITAL)
    )
    assert r.status_code == 404, r.text
    assert publisher.raw == []


async def test_a_retry_through_another_service_names_ingest(
    publisher: RecordingPublisher,
) -> None:
    transport = httpx.ASGITransport(app=await app_of("query", publisher))
    async with httpx.AsyncClient(transport=transport, base_url="http://query") as query:
        r = await query.post(f"/hospitals/{HOSPITAL}/deadletters/mine/retry", headers=key(HOSPITAL))
    assert r.status_code == 403 and "written by ingest" in r.text
    assert publisher.raw == []
