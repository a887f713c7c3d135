"""Typed settings from the environment, one ``HEALTHLINK_`` prefix for every service.

``Settings`` holds what every service needs (broker, database, secrets, topics);
each service extends it with its own fields in ``services/<name>/settings.py``
(same prefix, names unique across services) and is built from that class.
"""

from __future__ import annotations

from typing import Any, Literal

from healthlink_adapter.contract import MAX_UPLOAD_BYTES
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-only-insecure-secret-change-me"
# Values that are in this repository and so are no secret: refused in production.
KNOWN_SECRETS = frozenset(
    {DEV_SECRET, "test-secret-not-for-production", "test-operator-token", "change-me", ""}
)
MIN_SECRET_BYTES = 32

# The services in order, each on the default base port + its place in this order
# (8001-8007); HEALTHLINK_SERVICE_PORT_BASE moves them all (Settings.port).
DEFAULT_PORT_BASE = 8001
SERVICE_PORTS: dict[str, int] = {
    service: DEFAULT_PORT_BASE + place
    for place, service in enumerate(
        ("consent", "ingest", "query", "audit", "notify", "auth", "portal")
    )
}


class Settings(BaseSettings):
    """Everything a service needs to find its broker, its database and its secrets."""

    model_config = SettingsConfigDict(env_prefix="HEALTHLINK_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    kafka_bootstrap: str = "127.0.0.1:19092"
    # Kafka's own authentication (shared/kafka_client.py, docs/kafka-security.md): a JSON
    # file {principal: password} (the local stack's .data/kafka/credentials.json), or one
    # principal's username and password (a container runs one service). Neither: PLAINTEXT.
    kafka_credentials: str = ""
    kafka_username: str = ""
    kafka_password: str = Field(default="", repr=False)
    kafka_security_protocol: Literal["", "PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = ""
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_ca_file: str = ""  # the CA of a SASL_SSL listener
    # The listener hospitals connect to (SASL_SSL), as printed to a hospital with its login.
    kafka_hospital_bootstrap: str = ""
    mongo_url: str = "mongodb://127.0.0.1:27018/"
    # Connections each database client of a service may open (pymongo's maxPoolSize,
    # default 100). FerretDB 1.24 runs every operation on one of its 50 PostgreSQL
    # connections and deadlocks when ~50 operations each hold one and wait for another,
    # so the services' pools together stay well under 50 (docs/architecture.md).
    mongo_max_pool: int = Field(default=5, ge=1)
    # FerretDB's PostgreSQL (local stack only; empty on MongoDB): where the GIN indexes
    # its pushdown can use are built (shared/indexes, docs/indexes.md).
    pg_dsn: str = ""
    db_prefix: str = "healthlink"
    topic_prefix: str = ""
    host: str = "127.0.0.1"
    service_port_base: int = Field(default=DEFAULT_PORT_BASE, ge=1, le=65535 - len(SERVICE_PORTS))
    token_secret: str = DEV_SECRET
    # The bootstrap operator's static bearer token (break-glass, development): accepted
    # as the operator "bootstrap" in development and test; in production only with
    # HEALTHLINK_ADMIN_TOKEN_ENABLED=true. Named operators use the auth service's tokens.
    admin_token: str = DEV_SECRET
    admin_token_enabled: bool = False  # unset: true outside production (_bootstrap_default)
    # The auth service (issuer of every access token, operators' included), the audience
    # its tokens carry (the FHIR base URL) and where its JWK set is read. Empty: the local
    # defaults (http://127.0.0.1:<auth port>, http://127.0.0.1:<query port>/fhir,
    # <issuer>/.well-known/jwks.json).
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_jwks_url: str = ""
    log_level: str = "INFO"
    max_bundle_bytes: int = Field(default=MAX_UPLOAD_BYTES, gt=0)
    # Every request body of every service (ingest's POST /fhir: max_bundle_bytes),
    # refused with 413 before it is read (shared/limits.py).
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    token_ttl_s: int = Field(default=900, gt=0)
    transient_retry_limit: int = Field(default=5, ge=1)
    # Topics are created at service start with these (shared/kafka_topics.py, docs/operations.md).
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    # Batch consumers of events (query: records.stored; notify: records.received) take
    # at most this many records per poll. See shared/runtime.py.
    event_batch: int = Field(default=200, ge=1, le=5000)

    @model_validator(mode="before")
    @classmethod
    def _bootstrap_default(cls, data: Any) -> Any:
        """The bootstrap token is on by default outside production, off in production."""
        if isinstance(data, dict) and data.get("admin_token_enabled") in (None, ""):
            data = {**data, "admin_token_enabled": data.get("environment") != "production"}
        return data

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> Settings:
        """Production fails closed: every secret set explicitly, at least 32 bytes, none
        of the repository's own values, and no secret used for two purposes."""
        if self.environment == "production":
            secrets = {"HEALTHLINK_TOKEN_SECRET": self.token_secret}
            if self.bootstrap_token_allowed:
                secrets["HEALTHLINK_ADMIN_TOKEN"] = self.admin_token
            require_secrets(secrets)
        return self

    @property
    def bootstrap_token_allowed(self) -> bool:
        """Whether the static ``admin_token`` is accepted (the "bootstrap" operator):
        by default outside production only."""
        return self.admin_token_enabled

    @property
    def issuer(self) -> str:
        """The auth service's URL: the ``iss`` of every access token."""
        return (self.auth_issuer or f"http://127.0.0.1:{self.port('auth')}").rstrip("/")

    @property
    def token_audience(self) -> str:
        """The ``aud`` of the auth service's access tokens (the FHIR base URL)."""
        return self.auth_audience or f"http://127.0.0.1:{self.port('query')}/fhir"

    @property
    def jwks_url(self) -> str:
        return self.auth_jwks_url or f"{self.issuer}/.well-known/jwks.json"

    def db_name(self, service: str) -> str:
        """Each service owns its own database."""
        return f"{self.db_prefix}_{service}"

    def port(self, service: str) -> int:
        """The service's HTTP port: the base port plus its place among the services."""
        return self.service_port_base + SERVICE_PORTS[service] - DEFAULT_PORT_BASE


def require_secrets(secrets: dict[str, str]) -> None:
    """``ValueError`` naming the first variable that is empty, short, a value from this
    repository, or the same as another secret (one secret, one purpose)."""
    seen: dict[str, str] = {}
    for name, value in secrets.items():
        if not value or value.strip() in KNOWN_SECRETS or "dev-only" in value:
            raise ValueError(f"set {name} to a secret of your own in production")
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"{name} must be at least {MIN_SECRET_BYTES} bytes in production")
        if value in seen:
            raise ValueError(f"{name} and {seen[value]} must differ: one secret per purpose")
        seen[value] = name


def require_https(name: str, url: str | None) -> None:
    """``ValueError`` unless ``url`` is an https URL with a host (production)."""
    if not url or not url.startswith("https://") or len(url) <= len("https://"):
        raise ValueError(f"{name} must be an https URL in production")
