"""The notification a subscribed hospital receives for one data request: a FHIR R4
``Bundle`` of type ``history`` as the Subscriptions R5 Backport IG shapes it for R4.

- The first entry is a ``Parameters`` SubscriptionStatus (profile
  ``backport-subscription-status-r4``): the subscription, the topic, ``type``
  ``event-notification``, ``events-since-subscription-start`` and one
  ``notification-event`` whose ``focus`` is ``Task/<request id>``.
- With ``full-resource``, a second entry holds that ``Task``: the data request itself
  (``identifier`` = the request id, ``for`` = the patient by CID, ``owner`` = the hospital
  by its code, ``authoredOn`` = when the platform asked, ``reasonCode`` = why). With
  ``id-only`` the hospital has the request id and reads the request from the polling door.

The event number is the request's offset on the hospital's own request topic (plus one;
its records all carry its code as the key, so they are on one partition): stable when
the same record is delivered again. A redelivered notification carries
the same ids and event number (only its timestamps differ), so the hospital's
idempotent answer (an upload id derived from the request id) changes nothing.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from healthlink_adapter.datarequests import DataRequest

from services.ingest.subscriptions import BACKPORT, BASE, TOPIC_URL, Subscription
from shared.fhir import CID_SYSTEM, HCODE_SYSTEM

STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
REQUEST_SYSTEM = f"{BASE}/NamingSystem/data-request"
TASK_CODE_SYSTEM = f"{BASE}/CodeSystem/task-code"
FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def task_id(request_id: str) -> str:
    """The Task's id: the request id when it is a FHIR id, else a name derived from it."""
    if FHIR_ID.match(request_id):
        return request_id
    return _name(request_id)


def as_task(request: DataRequest) -> dict[str, Any]:
    """The data request as a FHIR R4 ``Task``: send this patient's records."""
    return {
        "resourceType": "Task",
        "id": task_id(request.id),
        "identifier": [{"system": REQUEST_SYSTEM, "value": request.id}],
        "status": "requested",
        "intent": "order",
        "code": {
            "coding": [{"system": TASK_CODE_SYSTEM, "code": "data-request"}],
            "text": "send this patient's records to Health Link",
        },
        "for": {"identifier": {"system": CID_SYSTEM, "value": request.patient}},
        "owner": {"identifier": {"system": HCODE_SYSTEM, "value": request.hospital}},
        "authoredOn": request.time.isoformat(),
        "reasonCode": {"text": request.reason},
    }


def _name(*parts: str) -> str:
    """A stable uuid for what ``parts`` name (the same on every delivery)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join((REQUEST_SYSTEM, *parts))))


def status_of(subscription: Subscription) -> dict[str, Any]:
    """``$status``: the subscription's SubscriptionStatus (``type: query-status``); the
    event count is not kept (the hospital counts the event numbers it received)."""
    return {
        "resourceType": "Parameters",
        "id": _name(subscription.id, "query-status"),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": [*_about(subscription), {"name": "type", "valueCode": "query-status"}],
    }


def _about(subscription: Subscription) -> list[dict[str, Any]]:
    """The parameters every SubscriptionStatus starts with."""
    subscribed = {"reference": f"Subscription/{subscription.id}"}
    return [
        {"name": "subscription", "valueReference": subscribed},
        {"name": "topic", "valueCanonical": TOPIC_URL},
        {"name": "status", "valueCode": subscription.status},
    ]


def _status(subscription: Subscription, focus: str, number: int, now: str) -> dict[str, Any]:
    event = [
        {"name": "event-number", "valueString": str(number)},
        {"name": "timestamp", "valueInstant": now},
        {"name": "focus", "valueReference": {"reference": focus}},
    ]
    return {
        "resourceType": "Parameters",
        "id": _name(subscription.id, focus, "status"),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": [
            *_about(subscription),
            {"name": "type", "valueCode": "event-notification"},
            {"name": "events-since-subscription-start", "valueString": str(number)},
            {"name": "notification-event", "part": event},
        ],
    }  # fmt: skip


def notification(
    subscription: Subscription, request: DataRequest, number: int, now: datetime
) -> dict[str, Any]:
    """The Bundle to POST to the subscription's endpoint for ``request``."""
    at = now.isoformat()
    focus = f"Task/{task_id(request.id)}"
    status = _status(subscription, focus, number, at)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{status['id']}",
            "resource": status,
            "request": {"method": "GET", "url": f"Subscription/{subscription.id}/$status"},
            "response": {"status": "200"},
        }
    ]
    if subscription.content == "full-resource":
        entries.append(
            {
                "fullUrl": f"{BASE}/{focus}",
                "resource": as_task(request),
                "request": {"method": "POST", "url": "Task"},
                "response": {"status": "201"},
            }
        )
    return {
        "resourceType": "Bundle",
        "id": _name(subscription.id, focus),
        "type": "history",
        "timestamp": at,
        "entry": entries,
    }
