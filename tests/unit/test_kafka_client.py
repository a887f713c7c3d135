"""How clients find their Kafka password, in a container with a mounted secret file."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from shared.kafka_admin import KafkaAdminError, ensure_passwords
from shared.kafka_client import MissingCredential, connection
from shared.settings import Settings

pytestmark = pytest.mark.unit


def test_a_service_with_its_own_file_connects_with_scram_as_itself(tmp_path: Path) -> None:
    mine = tmp_path / "credentials.json"
    mine.write_text(json.dumps({"query": "pw-of-query"}))
    settings = Settings(kafka_credentials=str(mine), kafka_security_protocol="SASL_PLAINTEXT")
    conn = connection(settings, "query")
    assert (conn.security_protocol, conn.username, conn.password) == (
        "SASL_PLAINTEXT",
        "query",
        "pw-of-query",
    )
    with pytest.raises(MissingCredential, match="'consent'"):
        connection(settings, "consent")  # another service's password is not in its file


def test_sasl_asked_for_without_a_password_never_falls_back_to_plaintext() -> None:
    # explicit: under `make test` the environment names the local stack's credentials
    settings = Settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_credentials="")
    with pytest.raises(MissingCredential, match="SASL_PLAINTEXT but no Kafka password"):
        connection(settings, "query")
    plain = Settings(kafka_security_protocol="", kafka_credentials="")
    assert connection(plain, "query").security_protocol == "PLAINTEXT"  # no SASL asked


def test_a_complete_read_only_credentials_file_is_only_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "credentials.json"
    given.write_text(json.dumps({"admin": "a", "query": "q"}))

    def read_only(*_: object, **__: object) -> int:  # as Kubernetes and Compose mount secrets
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "open", read_only)
    assert ensure_passwords(given, ["query"]) == {"admin": "a", "query": "q"}
    with pytest.raises(KafkaAdminError, match=r"no password for ingest .*kafka-secrets\.sh"):
        ensure_passwords(given, ["query", "ingest"])
