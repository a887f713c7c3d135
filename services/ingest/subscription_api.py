"""A hospital's data-request subscription over HTTP (FHIR R4 ``Subscription``, the R5
Backport IG's topic-based form), with the credential of the polling door (the hospital's
admin key as the bearer token; a hospital sees and manages only its own):

    POST   /hospitals/{code}/fhir/Subscription          register (201, ``active``)
    GET    /hospitals/{code}/fhir/Subscription          a searchset of its one, or none
    GET    /hospitals/{code}/fhir/Subscription/{id}     read
    GET    /hospitals/{code}/fhir/Subscription/{id}/$status  its SubscriptionStatus
    DELETE /hospitals/{code}/fhir/Subscription/{id}     stop notifications (204)

What a registration must say is in ``subscriptions.py``; every refusal is a 4xx
OperationOutcome. Creating and deleting are security events in the audit log
(``operator.acted`` ``subscription.created`` / ``subscription.deleted`` under
``hospital:<code>``, as a hospital's retry of its set-aside upload), recorded before the
change (503 if the log cannot take it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse

from services.ingest.handlers import Deps
from services.ingest.notifications import status_of
from services.ingest.subscriptions import Subscription, as_fhir, parse_subscription
from services.ingest.subscriptionstore import Subscriptions
from shared.errors import Conflict, InvalidInput, NotFound
from shared.fhir import FHIR_JSON
from shared.hospital_letters import HospitalCode, require_hospital_key
from shared.logging import get_logger
from shared.operators import Operator, acted

log = get_logger(__name__)
SubscriptionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]

router = APIRouter(
    prefix="/hospitals/{code}/fhir/Subscription",
    tags=["hospital systems"],
    dependencies=[Depends(require_hospital_key)],
)


def _store(request: Request) -> Subscriptions:
    deps: Deps = request.app.state.deps
    return deps.subscriptions


def _hospital(code: str) -> Operator:
    return Operator(f"hospital:{code}", ("hospital",))  # as consent names a hospital's own


def _fhir(body: dict[str, Any], status_code: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, media_type=FHIR_JSON, headers=headers)


@router.post("", status_code=201, response_model=None)
async def create_subscription(code: HospitalCode, request: Request) -> JSONResponse:
    """Register the hospital's subscription to its data requests (``criteria``: the
    data-request topic; ``rest-hook`` to an https endpoint); 409 if it has one."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("the body is not JSON") from None
    deps: Deps = request.app.state.deps
    environment = request.app.state.settings.environment
    subscription = parse_subscription(body, code, environment, deps.clock())
    store = _store(request)
    existing = await store.of(code)
    if existing is not None:
        raise Conflict(f"hospital {code} already has subscription {existing.id}; delete it first")
    detail = {"hospital": code, "content": subscription.content}
    await acted(request, _hospital(code), "subscription.created", subscription.id, detail)
    if not await store.add(subscription):
        raise Conflict(f"hospital {code} already has a subscription; delete it first")
    log.info("subscription created", hospital=code, subscription=subscription.id)
    location = f"/hospitals/{code}/fhir/Subscription/{subscription.id}"
    return _fhir(as_fhir(subscription), 201, Location=location)


@router.get("", response_model=None)
async def search_subscriptions(code: HospitalCode, request: Request) -> JSONResponse:
    """The hospital's subscription as a searchset Bundle (none, or one)."""
    found = await _store(request).of(code)
    base = str(request.base_url).rstrip("/") + f"/hospitals/{code}/fhir"
    entries = [
        {
            "fullUrl": f"{base}/Subscription/{found.id}",
            "resource": as_fhir(found),
            "search": {"mode": "match"},
        }
    ] if found is not None else []  # fmt: skip
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "link": [{"relation": "self", "url": f"{base}/Subscription"}],
        "entry": entries,
    }
    return _fhir(bundle)


async def _own(request: Request, code: str, subscription_id: str) -> Subscription:
    """The hospital's subscription ``subscription_id``; 404 when it has no such one."""
    found = await _store(request).of(code)
    if found is None or found.id != subscription_id:
        raise NotFound(f"no subscription {subscription_id} of hospital {code}")
    return found


@router.get("/{subscription_id}", response_model=None)
async def read_subscription(
    code: HospitalCode, subscription_id: SubscriptionId, request: Request
) -> JSONResponse:
    """The hospital's subscription (its channel's header values withheld)."""
    found = await _own(request, code, subscription_id)
    return _fhir(as_fhir(found))


@router.get("/{subscription_id}/$status", response_model=None)
async def read_subscription_status(
    code: HospitalCode, subscription_id: SubscriptionId, request: Request
) -> JSONResponse:
    """The subscription's status (a ``Parameters`` SubscriptionStatus, ``query-status``)."""
    found = await _own(request, code, subscription_id)
    return _fhir(status_of(found))


@router.delete("/{subscription_id}", status_code=204, response_model=None)
async def delete_subscription(
    code: HospitalCode, subscription_id: SubscriptionId, request: Request
) -> Response:
    """Stop the notifications (the polling door still serves every request)."""
    store = _store(request)
    found = await store.of(code)
    if found is None or found.id != subscription_id:
        raise NotFound(f"no subscription {subscription_id} of hospital {code}")
    detail = {"hospital": code}
    await acted(request, _hospital(code), "subscription.deleted", subscription_id, detail)
    await store.remove(code, subscription_id)
    log.info("subscription deleted", hospital=code, subscription=subscription_id)
    return Response(status_code=204)
