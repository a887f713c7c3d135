"""The ingest service's settings: the shared ones and how uploads are consumed."""

from __future__ import annotations

from pydantic import Field

from shared.settings import Settings


class IngestSettings(Settings):
    """Upload batches, consumers and FHIR validation workers (``HEALTHLINK_`` prefix)."""

    # Uploads are consumed in batches of at most this many records per poll.
    upload_batch: int = Field(default=32, ge=1, le=500)
    # Upload consumers per ingest instance (partitions split between them): one batch
    # is validated while others are being written.
    upload_consumers: int = Field(default=3, ge=1, le=16)
    # Worker processes per ingest instance for FHIR model validation (the CPU-heavy
    # step); 0 validates in a thread of the service's own process (one core at most).
    # Two on a 2-core machine: a batch is split between them, so validation fills the
    # cores whenever the rest of the pipeline leaves them idle (+10 % in a flood vs 1).
    validation_processes: int = Field(default=2, ge=0, le=16)
