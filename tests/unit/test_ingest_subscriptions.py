"""Data requests by FHIR Subscription over in-memory fakes: a hospital registers, reads and
deletes its own with its admin key (each change a security event); registrations are
refused with a 4xx OperationOutcome that names what is wrong; the notification is a
valid R4 history Bundle (fhir.resources); delivery retries, then sets aside."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters
from fhir.resources.R4B.subscription import Subscription as FhirSubscription
from fhir.resources.R4B.task import Task
from healthlink_adapter import DataRequest

from services.ingest.app import create_app
from services.ingest.delivery import UNDELIVERED, Delivery, request_topics
from services.ingest.notifications import notification
from services.ingest.settings import IngestSettings
from services.ingest.subscriptions import (
    PAYLOAD_CONTENT,
    TOPIC_URL,
    Subscription,
    parse_subscription,
)
from services.ingest.subscriptionstore import MemorySubscriptions
from shared.broker import RecordingPublisher
from shared.deadletter import SourceMessage
from shared.errors import InvalidInput, Rejected
from shared.events import OperatorActed
from tests.support.cids import CID
from tests.support.credentials import admin_key
from tests.support.ingest import CONSUMER, PROVIDER, SECRET, memory_deps

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
ENDPOINT = "https://ehr.hospital.example/healthlink/notify"


def subscription(endpoint: str = ENDPOINT, content: str = "full-resource", **over: Any) -> Any:
    """A registration as a hospital system sends it (R4 + the backport's conventions)."""
    body: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "data requests for our EHR",
        "criteria": TOPIC_URL,
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]},
            "header": ["Authorization: Bearer hospital-own-secret"],
        },
    }
    body.update(over)
    return body


def request(n: int = 1, time: datetime = NOW) -> DataRequest:
    return DataRequest(id=f"datareq-{n}", hospital=PROVIDER, patient=CID,
                       reason="consent.granted", time=time, correlation_id="c-1")  # fmt: skip


def record(req: DataRequest, offset: int = 0, hospital: str = PROVIDER) -> SourceMessage:
    event = {"specversion": "1.0", "id": req.id, "type": "th.healthlink.data.requested.v1",
             "source": "healthlink/consent", "subject": req.hospital,
             "data": {"patient": req.patient, "hospital": req.hospital, "reason": req.reason,
                      "time": req.time.isoformat()}}  # fmt: skip
    return SourceMessage(
        topic=f"healthlink.consent.datarequests.{hospital}",
        partition=0,
        offset=offset,
        key=hospital.encode(),
        value=json.dumps(event).encode(),
        headers={},
    )


def bearer(code: str) -> dict[str, str]:
    return {"authorization": f"Bearer {admin_key(code)}"}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"criteria": "https://healthlink.example/fhir/SubscriptionTopic/other"}, "unknown topic"),
        ({"channel": {"type": "websocket", "endpoint": ENDPOINT}}, "rest-hook"),
        ({"channel": {"type": "rest-hook"}}, "endpoint is required"),
        ({"channel": {"type": "rest-hook", "endpoint": "http://ehr.example/n"}}, "https"),
        ({"channel": {"type": "rest-hook", "endpoint": "ftp://ehr.example/n"}}, "https"),
        (
            {"channel": {"type": "rest-hook", "endpoint": ENDPOINT, "payload": "text/xml"}},
            "payload",
        ),
        ({"channel": {"type": "rest-hook", "endpoint": ENDPOINT, "header": ["Host: x"]}}, "Host"),
        ({"channel": {"type": "rest-hook", "endpoint": ENDPOINT, "header": ["no colon"]}}, "Name"),
        ({"status": "off"}, "status"),
        ({"resourceType": "Patient"}, "Subscription"),
    ],
)
def test_a_registration_is_refused_naming_what_is_wrong(change: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_subscription(subscription(**change), PROVIDER, "test", NOW)
    assert says in refused.value.detail


def test_loopback_http_only_outside_production() -> None:
    loopback = subscription("http://127.0.0.1:8999/notify")
    assert parse_subscription(loopback, PROVIDER, "test", NOW).endpoint.startswith("http://")
    with pytest.raises(InvalidInput):
        parse_subscription(loopback, PROVIDER, "production", NOW)
    for internal in ("https://10.0.0.5/n", "https://169.254.169.254/latest", "https://[::1]/n"):
        with pytest.raises(InvalidInput):
            parse_subscription(subscription(internal), PROVIDER, "production", NOW)
    default = subscription(channel={"type": "rest-hook", "endpoint": ENDPOINT})
    assert parse_subscription(default, PROVIDER, "production", NOW).content == "id-only"


async def test_a_hospital_manages_its_own_subscription_with_its_admin_key() -> None:
    settings = IngestSettings(environment="test", token_secret=SECRET, admin_token="op")
    deps = await memory_deps(lambda: NOW)
    app = create_app(settings, deps=deps)
    app.state.security_publisher = audit = RecordingPublisher()
    url = f"/hospitals/{PROVIDER}/fhir/Subscription"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for headers in ({}, bearer(CONSUMER)):  # no key, another hospital's key
            r = await http.post(url, json=subscription(), headers=headers)
            assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"
        r = await http.post(url, content=b"{not json", headers=bearer(PROVIDER))
        assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
        r = await http.post(url, json=subscription(criteria="x"), headers=bearer(PROVIDER))
        assert r.status_code == 400 and "unknown topic" in r.text
        r = await http.post(url, json=subscription(), headers=bearer(PROVIDER))
        assert r.status_code == 201, r.text
        made = FhirSubscription.model_validate(r.json())
        assert made.status == "active" and made.criteria == TOPIC_URL
        assert r.headers["location"] == f"{url}/{made.id}"
        assert "hospital-own-secret" not in r.text  # the channel's header values withheld
        r = await http.post(url, json=subscription(), headers=bearer(PROVIDER))
        assert r.status_code == 409 and r.json()["resourceType"] == "OperationOutcome"
        r = await http.get(f"{url}/{made.id}", headers=bearer(PROVIDER))
        assert r.status_code == 200 and r.json()["id"] == made.id
        r = await http.get(f"{url}/{made.id}/$status", headers=bearer(PROVIDER))
        Parameters.model_validate(r.json())
        status = {p["name"]: p for p in r.json()["parameter"]}
        assert r.status_code == 200 and status["type"]["valueCode"] == "query-status"
        assert status["status"]["valueCode"] == "active"
        searched = Bundle.model_validate((await http.get(url, headers=bearer(PROVIDER))).json())
        assert searched.total == 1
        other = f"/hospitals/{CONSUMER}/fhir/Subscription/{made.id}"
        r = await http.get(other, headers=bearer(CONSUMER))
        assert r.status_code == 404  # not the other hospital's
        r = await http.delete(f"{url}/{made.id}", headers=bearer(PROVIDER))
        assert r.status_code == 204
        r = await http.get(f"{url}/{made.id}", headers=bearer(PROVIDER))
        assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    acts = [OperatorActed.of(e) for e in audit.of(OperatorActed)]
    assert [(a.operator, a.action, a.target) for a in acts] == [
        (f"hospital:{PROVIDER}", "subscription.created", made.id),
        (f"hospital:{PROVIDER}", "subscription.deleted", made.id),
    ]


@pytest.mark.parametrize("content", ["full-resource", "id-only"])
def test_the_notification_is_an_r4_history_bundle_naming_the_request(content: str) -> None:
    subscribed = parse_subscription(subscription(content=content), PROVIDER, "test", NOW)
    body = notification(subscribed, request(7), 8, NOW)
    bundle = Bundle.model_validate(body)
    assert bundle.type == "history"
    status = body["entry"][0]["resource"]
    assert status["resourceType"] == "Parameters"
    params = {p["name"]: p for p in status["parameter"]}
    assert params["type"]["valueCode"] == "event-notification"
    assert params["topic"]["valueCanonical"] == TOPIC_URL
    assert params["events-since-subscription-start"]["valueString"] == "8"
    event = {p["name"]: p for p in params["notification-event"]["part"]}
    assert event["focus"]["valueReference"]["reference"] == "Task/datareq-7"
    assert len(body["entry"]) == (2 if content == "full-resource" else 1)
    if content == "full-resource":
        task = Task.model_validate(body["entry"][1]["resource"])
        assert task.identifier[0].value == "datareq-7"
        assert task.for_fhir.identifier.value == CID
        assert task.owner.identifier.value == PROVIDER
    again = notification(subscribed, request(7), 8, NOW + timedelta(seconds=5))
    assert again["id"] == body["id"]  # a redelivery: the same notification


class Endpoint:
    """A hospital's endpoint: answers ``statuses`` in turn, keeps what it received."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.received: list[httpx.Request] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.received.append(req)
        code = self.statuses.pop(0) if self.statuses else 200
        if code == 0:
            raise httpx.ConnectError("refused", request=req)
        return httpx.Response(code)


async def delivery_to(endpoint: Endpoint, clock: Any = lambda: NOW) -> tuple[Delivery, list[float]]:
    store = MemorySubscriptions()
    await store.add(parse_subscription(subscription(), PROVIDER, "test", NOW))
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    client = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    return Delivery(store, client, clock, sleep=sleep), slept


async def test_delivery_retries_then_succeeds_with_the_channels_headers() -> None:
    endpoint = Endpoint(503, 0, 200)
    delivery, slept = await delivery_to(endpoint)
    await delivery.on_record(record(request(1, NOW + timedelta(seconds=1)), offset=4))
    assert len(endpoint.received) == 3 and slept == [0.5, 1.0]
    sent = endpoint.received[-1]
    assert sent.headers["authorization"] == "Bearer hospital-own-secret"
    assert sent.headers["content-type"] == "application/fhir+json"
    assert "datareq-1" in sent.content.decode()


async def test_an_undeliverable_request_is_set_aside_with_its_reason() -> None:
    endpoint = Endpoint(500, 500, 500, 200)
    delivery, _ = await delivery_to(endpoint)
    with pytest.raises(Rejected) as refused:
        await delivery.on_record(record(request(2, NOW + timedelta(seconds=1))))
    assert refused.value.code == UNDELIVERED and "answered 500" in refused.value.detail
    assert len(endpoint.received) == 3


async def test_a_failing_endpoint_is_not_waited_on_for_a_while() -> None:
    now = [NOW]
    endpoint = Endpoint(500, 500, 500)
    delivery, _ = await delivery_to(endpoint, lambda: now[0])
    later = NOW + timedelta(seconds=1)
    with pytest.raises(Rejected):
        await delivery.on_record(record(request(2, later)))
    with pytest.raises(Rejected) as at_once:  # the next one: set aside, not tried
        await delivery.on_record(record(request(3, later), offset=1))
    assert at_once.value.code == UNDELIVERED and "not tried" in at_once.value.detail
    assert len(endpoint.received) == 3
    now[0] = NOW + timedelta(seconds=61)  # after the cool-down: tried again, and it works
    await delivery.on_record(record(request(4, later), offset=2))
    assert len(endpoint.received) == 4 and not delivery.failing


async def test_what_is_not_for_a_subscription_is_not_sent() -> None:
    endpoint = Endpoint()
    delivery, _ = await delivery_to(endpoint)
    await delivery.on_record(record(request(3, NOW - timedelta(seconds=1))))  # before it
    other = request(4, NOW + timedelta(seconds=1)).model_copy(update={"hospital": CONSUMER})
    await delivery.on_record(record(other, hospital=CONSUMER))  # no subscription
    assert endpoint.received == []
    with pytest.raises(Rejected):  # addressed to another hospital than its topic's
        await delivery.on_record(record(other, hospital=PROVIDER))
    garbage = SourceMessage(topic=record(other).topic, partition=0, offset=0, key=None,
                            value=b"nope", headers={})  # fmt: skip
    with pytest.raises(Rejected):
        await delivery.on_record(garbage)


def test_the_pattern_matches_only_hospitals_request_topics() -> None:
    import re

    pattern = re.compile(request_topics("t1."))
    assert pattern.match("t1.healthlink.consent.datarequests.10670")
    assert not pattern.match("healthlink.consent.datarequests.10670")
    assert not pattern.match("t1.healthlink.consent.datarequests.1067x")
    assert not pattern.match("t1.healthlink.consent.events")


class CountingSubscriptions(MemorySubscriptions):
    """The fake, counting look-ups by hospital."""

    def __init__(self) -> None:
        super().__init__()
        self.looked_up: list[str] = []

    async def of(self, hospital: str) -> Subscription | None:
        self.looked_up.append(hospital)
        return await super().of(hospital)


async def test_a_batch_reads_each_hospitals_subscription_once_and_answers_each_record() -> None:
    endpoint = Endpoint()
    store = CountingSubscriptions()
    await store.add(parse_subscription(subscription(), PROVIDER, "test", NOW))
    client = httpx.AsyncClient(transport=httpx.MockTransport(endpoint))
    delivery = Delivery(store, client, lambda: NOW)
    later = NOW + timedelta(seconds=1)
    elsewhere = request(9, later).model_copy(update={"hospital": CONSUMER})
    batch = [
        record(request(1, later), offset=0),
        record(elsewhere, hospital=CONSUMER),  # no subscription: nothing to send
        record(elsewhere, hospital=PROVIDER),  # misaddressed: set aside
        record(request(2, later), offset=1),
    ]
    outcomes = await delivery.on_records(batch)
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "NoneType", "Rejected", "NoneType"]
    assert sorted(store.looked_up) == sorted([PROVIDER, CONSUMER])  # once each
    assert ["datareq-1" in r.content.decode() for r in endpoint.received] == [True, False]
