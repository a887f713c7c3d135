"""The audit service's settings: the shared ones plus the signing of chain heads."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import Settings


class AuditSettings(Settings):
    """What the audit service reads from the environment (``HEALTHLINK_`` prefix)."""

    # Each chain's head is signed this often, when the chain grew (docs/audit.md).
    audit_head_interval_s: float = Field(default=5.0, gt=0)
    # The Ed25519 private JWK that signs heads, inline or in a file. Never in the audit
    # database. Development and test make one under <data_dir>/audit/ when neither is set.
    audit_signing_key: str | None = None
    audit_signing_key_file: str | None = None
    data_dir: str = ".data"

    @model_validator(mode="after")
    def _refuse_generated_key_in_production(self) -> AuditSettings:
        if self.environment == "production" and not (
            self.audit_signing_key or self.audit_signing_key_file
        ):
            raise ValueError("set HEALTHLINK_AUDIT_SIGNING_KEY(_FILE) in production")
        return self
