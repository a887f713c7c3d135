"""A hospital simulator: answers the data requests addressed to it with generated records.

``healthlink simulate 10670`` reads the hospital's data requests and, for each,
sends a synthetic patient bundle (``healthlink.synthetic``) for that CID, signed
with the hospital's private key (``healthlink hospitals keygen``), through the hospital
adapter package (``healthlink_adapter``) exactly as a hospital's own system would. The bundle is
seeded by (hospital, CID) and the upload id by the request, so a repeated
request sends the same records.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from pathlib import Path
from typing import Annotated

import typer
from healthlink_adapter import DataRequest, DataRequestReader, KafkaUploader, Signer

from healthlink.hospitalkeys import signer_for
from healthlink.synthetic import make_patient_bundle
from shared.kafka_admin import hospital_connection
from shared.logging import configure_logging, get_logger
from shared.settings import Settings

log = get_logger(__name__)


def bundle_for(hospital: str, cid: str, n_resources: int) -> dict[str, object]:
    """The same records for the same hospital and patient, every time."""
    rng = random.Random(zlib.crc32(f"{hospital}:{cid}".encode()))
    return make_patient_bundle(rng, cid=cid, hospital_code=hospital, n_resources=n_resources)


async def answer(uploader: KafkaUploader, request: DataRequest, n_resources: int) -> str:
    bundle = bundle_for(uploader.hospital, request.patient, n_resources)
    upload_id = f"sim-{uploader.hospital}-{request.id}"[:64]
    return await uploader.send(bundle, upload_id, request_id=request.id)


async def simulate(
    settings: Settings,
    hospital: str,
    signer: Signer,
    *,
    n_resources: int = 20,
    limit: int | None = None,
) -> int:
    """Answer data requests for ``hospital`` (forever, or ``limit`` of them); returns count."""
    answered = 0
    bootstrap, prefix = await hospital_connection(settings, hospital), settings.topic_prefix
    async with (
        KafkaUploader(bootstrap, hospital, signer, prefix) as uploader,
        DataRequestReader(bootstrap, hospital, prefix) as requests,
    ):
        async for request in requests:
            receipt = await answer(uploader, request, n_resources)
            answered += 1
            log.info("data request answered", hospital=hospital, request=request.id,
                     upload_id=receipt)  # fmt: skip
            if limit is not None and answered >= limit:
                break
    return answered


def simulate_command(
    hospital: str = typer.Argument(..., help="the 5-digit hospital code to play"),
    key: Annotated[
        Path | None,
        typer.Option(
            envvar="HEALTHLINK_HOSPITAL_KEY",
            help="the hospital's private signing key (default: <data dir>/hospitals/<code>.jwk)",
        ),
    ] = None,
    resources: int = typer.Option(20, min=1, help="resources per answered request"),
) -> None:
    """Answer the data requests addressed to HOSPITAL with generated records."""
    settings = Settings()
    configure_logging("simulator", settings.log_level)
    signer = signer_for(hospital, key)
    asyncio.run(simulate(settings, hospital, signer, n_resources=resources))
