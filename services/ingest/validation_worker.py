"""What a FHIR validation worker process runs (``validation.py`` starts and feeds them).

A worker imports this module to find its functions, so it holds only what validating
needs: the bundle's loading and its R4B models (``bundle.py``), the refusals
(``errors.py``) and the tie to the service (``shared/lifeline.py``) — not the service's
broker, database or consumer plumbing, nor the hospital adapter's uploaders. A worker's
start is its imports and the models' warm-up; importing ``validation.py`` here (it
pulled in ``shared.consumer``: FastStream, PyMongo, aiokafka) and the adapter package
(httpx, through ``healthlink_adapter.contract``) was about half of it.
"""

from __future__ import annotations

from services.ingest.bundle import load_bundle, validate_resources, warm_up
from services.ingest.errors import BundleRejected
from shared.lifeline import bind_to_parent

Refusal = tuple[str, str] | None


def start_worker(service: int, model_types: list[str]) -> None:
    """A new worker's first steps: tie itself to the service's process, load the models."""
    bind_to_parent(service)
    warm_up(model_types)


def check_bodies(bodies: list[bytes], max_bytes: int) -> list[Refusal]:
    """In a worker process: load and validate each body; its refusal, if any."""
    refusals: list[Refusal] = []
    for body in bodies:
        try:
            loaded = load_bundle(body, max_bytes=max_bytes, resolve_references=False)
            validate_resources(loaded)
            refusals.append(None)
        except BundleRejected as exc:
            refusals.append((exc.reason, exc.detail))
        except Exception as exc:
            refusals.append(("error", type(exc).__name__))
    return refusals
