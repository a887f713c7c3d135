"""``healthlink hospitals``: operators add participating hospitals (through the admin API).

The consent service stays the only writer: the CLI calls its operator endpoints
with ``HEALTHLINK_ADMIN_TOKEN`` and prints what they answer, including the new
hospital's admin key (shown once). Signing keys and admin key rotation:
``healthlink/hospitalkeys.py`` (its commands join this group).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer

from healthlink.operator import cli_errors, operator
from shared.settings import Settings

app = typer.Typer(help="Participating hospitals (operators).", no_args_is_help=True)
UrlOption = typer.Option("", help="consent service URL (default: local)")


def call(method: str, url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    with cli_errors():
        return operator(Settings(), "consent", url).call(method, "consent", path, body)


@app.command("add")
def add(
    code: str = typer.Argument(help="5-digit MOPH hospital code"),
    name: str = typer.Argument(help="the hospital's name"),
    role: str = typer.Option("consumer", help="consumer (reads only) or provider (also sends)"),
    consent_mode: str = typer.Option("standing", help="standing or per-visit"),
    url: str = UrlOption,
) -> None:
    """Add a participating hospital; prints its admin key (this once). Its upload signing
    key: ``healthlink hospitals keygen CODE`` (or ``add-key`` with its public JWK)."""
    body = {"code": code, "name": name, "role": role, "consent_mode": consent_mode}
    answer = call("POST", url, "/hospitals", body)
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@app.command("provider")
def provider(
    code: str = typer.Argument(help="5-digit MOPH hospital code"),
    url: str = UrlOption,
) -> None:
    """Make a consumer hospital a data provider (it joined as a data user first); with
    the platform's Kafka admin credential at hand, also make its Kafka login (printed
    once, as ``kafka-login`` does)."""
    answer = call("PATCH", url, f"/hospitals/{code}", {"role": "provider"})
    settings = Settings()
    if settings.kafka_credentials:
        answer = {**answer, "kafka": kafka_login_of(settings, code)}
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@app.command("suspend")
def suspend(
    code: str = typer.Argument(help="5-digit MOPH hospital code"),
    url: str = UrlOption,
) -> None:
    """Suspend a hospital: its physicians read nothing and its uploads are set aside
    from the next request on; with the Kafka admin credential at hand, its Kafka login
    and ACLs are deleted too (it cannot connect at all)."""
    answer = call("PATCH", url, f"/hospitals/{code}", {"active": False})
    settings = Settings()
    if settings.kafka_credentials:
        from shared.kafka_admin import revoke_hospital

        had, removed = asyncio.run(revoke_hospital(settings, code))
        answer = {**answer, "kafka": {"credential_deleted": had, "acls_deleted": removed}}
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@app.command("reinstate")
def reinstate(
    code: str = typer.Argument(help="5-digit MOPH hospital code"),
    url: str = UrlOption,
) -> None:
    """Reinstate a suspended hospital; a provider gets a new Kafka login (printed once)."""
    answer = call("PATCH", url, f"/hospitals/{code}", {"active": True})
    settings = Settings()
    if settings.kafka_credentials and answer.get("role") == "provider":
        answer = {**answer, "kafka": kafka_login_of(settings, code)}
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@app.command("list")
def list_hospitals(url: str = UrlOption) -> None:
    """The public list: code, role, consent mode, name."""
    for h in call("GET", url, "/hospitals")["hospitals"]:
        typer.echo(f"{h['code']}  {h['role']:<8} {h['consent_mode']:<9} {h['name']}")


@app.command("kafka-login")
def kafka_login(code: str = typer.Argument(help="5-digit MOPH hospital code")) -> None:
    """Make (or rotate) the hospital's Kafka login and its ACLs; prints it once.

    Kafka keeps only the salted hash: a lost password is replaced by running this again
    (the old one stops working at once). Runs as the platform's Kafka admin."""
    typer.echo(json.dumps(kafka_login_of(Settings(), code), indent=2))


def kafka_login_of(settings: Settings, code: str) -> dict[str, Any]:
    """A new Kafka login for hospital ``code`` (its credential, ACLs and topic)."""
    from healthlink_adapter.contract import consumer_group

    from shared.acl import hospital_principal
    from shared.kafka_admin import grant_hospital
    from shared.topics import data_requests_topic

    password = asyncio.run(grant_hospital(settings, code, settings.topic_prefix))
    hospital_listener = settings.kafka_hospital_bootstrap
    return {
        "bootstrap": hospital_listener or settings.kafka_bootstrap,
        "security_protocol": "SASL_SSL" if hospital_listener else "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "username": hospital_principal(code),
        "password": password,
        "ca_file": settings.kafka_ca_file or None,
        "data_requests_topic": data_requests_topic(code, settings.topic_prefix),
        "consumer_group": consumer_group(code, settings.topic_prefix),
    }


@app.command("kafka-revoke")
def kafka_revoke(code: str = typer.Argument(help="5-digit MOPH hospital code")) -> None:
    """Delete the hospital's Kafka credential and every ACL of its principal."""
    from shared.kafka_admin import revoke_hospital

    had, removed = asyncio.run(revoke_hospital(Settings(), code))
    typer.echo(json.dumps({"credential_deleted": had, "acls_deleted": removed}))
