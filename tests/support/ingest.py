"""The ingest service's ports as in-memory fakes, and signed uploads to send it."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx

from healthlink.synthetic import make_patient_bundle
from services.ingest.app import create_app
from services.ingest.handlers import Deps
from services.ingest.receiptstore import MemoryReceipts
from services.ingest.repository import MemoryHeldUploads, MemoryRecords
from services.ingest.settings import IngestSettings
from shared.broker import RecordingPublisher
from shared.cid import random_cid
from shared.coverage import HospitalState
from shared.events import HospitalRegistered
from shared.projections import ConsentProjection
from tests.support.credentials import credentialed, signer
from tests.support.events import envelope
from tests.support.system_tokens import verifier

SECRET = "unit-secret"
PROVIDER = "10670"
CONSUMER = "11535"


async def memory_deps(clock: Callable[[], datetime], max_bytes: int = 200_000) -> Deps:
    """Every port in memory; a provider (10670) and a consumer (11535) hospital known."""
    views = ConsentProjection.in_memory()
    for code, role in ((PROVIDER, "provider"), (CONSUMER, "consumer")):
        state = credentialed(HospitalState(code=code, name=code, role=role))  # type: ignore[arg-type]
        await views.on_hospital_event(envelope(HospitalRegistered(version=1, state=state), code))
    return Deps(
        records=MemoryRecords(),
        held=MemoryHeldUploads(),
        receipts=MemoryReceipts(),
        view=views,
        publisher=RecordingPublisher(),
        max_bytes=max_bytes,
        clock=clock,
    )


@asynccontextmanager
async def api_client(deps: Deps) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on ingest's app over ``deps`` (the lifespan never starts)."""
    settings = IngestSettings(environment="test", token_secret=SECRET, admin_token="op")
    app = create_app(settings, deps=deps)
    app.state.token_verifier = verifier()  # hospital systems' tokens (system_tokens)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


def patient_bundle(seed: int = 1, **kwargs: Any) -> tuple[str, bytes]:
    """A synthetic patient's CID and bundle body from the provider hospital."""
    rng = random.Random(seed)
    cid = random_cid(rng)
    doc = make_patient_bundle(rng, cid=cid, hospital_code=PROVIDER, **kwargs)
    return cid, json.dumps(doc).encode()


def signature(body: bytes | str, hospital: str = PROVIDER) -> str:
    """``hl-signature`` of ``body`` (or of a receipt id) with ``hospital``'s private key."""
    data = body.encode() if isinstance(body, str) else body
    return signer(hospital).sign(data)
