"""A hospital simulator: answers the data requests addressed to it with generated records.

``healthlink simulate 10670`` listens on the data-request topic and, for each
request, sends a synthetic patient bundle (``healthlink.synthetic``) for that CID,
signed with the hospital's upload key. The bundle is seeded by (hospital, CID)
and the upload id by the request, so a repeated request sends the same records.
"""

from __future__ import annotations

import asyncio
import random
import zlib

import typer

from healthlink.adapter import DataRequest, HospitalAdapter, data_requests
from healthlink.synthetic import make_patient_bundle
from shared import tokens
from shared.logging import configure_logging, get_logger
from shared.settings import Settings

log = get_logger(__name__)


def bundle_for(hospital: str, cid: str, n_resources: int) -> dict[str, object]:
    """The same records for the same hospital and patient, every time."""
    rng = random.Random(zlib.crc32(f"{hospital}:{cid}".encode()))
    return make_patient_bundle(rng, cid=cid, hospital_code=hospital, n_resources=n_resources)


async def answer(adapter: HospitalAdapter, request: DataRequest, n_resources: int) -> str:
    bundle = bundle_for(adapter.hospital, request.patient, n_resources)
    upload_id = f"sim-{adapter.hospital}-{request.id}"[:64]
    return await adapter.send(bundle, upload_id, request_id=request.id)


async def simulate(
    settings: Settings,
    hospital: str,
    *,
    upload_key: str | None = None,
    n_resources: int = 20,
    limit: int | None = None,
) -> int:
    """Answer data requests for ``hospital`` (forever, or ``limit`` of them); returns count."""
    key = upload_key or tokens.derive(settings.token_secret, "upload", hospital)
    answered = 0
    async with HospitalAdapter(
        settings.kafka_bootstrap, hospital, key, settings.topic_prefix
    ) as adapter:
        stream = data_requests(settings.kafka_bootstrap, hospital, settings.topic_prefix)
        async for request in stream:
            receipt = await answer(adapter, request, n_resources)
            answered += 1
            log.info("data request answered", hospital=hospital, request=request.id,
                     upload_id=receipt)  # fmt: skip
            if limit is not None and answered >= limit:
                break
    return answered


def simulate_command(
    hospital: str = typer.Argument(..., help="the 5-digit hospital code to play"),
    upload_key: str = typer.Option(
        "", envvar="HEALTHLINK_UPLOAD_KEY", help="default: derived from the platform secret"
    ),
    resources: int = typer.Option(20, min=1, help="resources per answered request"),
) -> None:
    """Answer the data requests addressed to HOSPITAL with generated records."""
    settings = Settings()
    configure_logging("simulator", settings.log_level)
    asyncio.run(simulate(settings, hospital, upload_key=upload_key or None, n_resources=resources))
