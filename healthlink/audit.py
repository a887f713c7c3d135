"""``healthlink audit``: verify the hash chains against the signed heads, print the heads'
public key, check a patient's proof document offline."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from joserfc.jwk import OKPKey

from services.audit.app import SERVICE
from services.audit.handlers import Deps, Verification, verify_log
from services.audit.heads import KEY_FILE, load_signing_key, public_jwk, read_public_key
from services.audit.proofs import check_proof
from services.audit.repository import MongoAuditLog
from services.audit.settings import AuditSettings
from shared import topics
from shared.admin import read_topic
from shared.database import make_client

audit = typer.Typer(
    help="The audit log: verify its chains and signed heads, check proofs.", no_args_is_help=True
)
TOPIC_TIMEOUT_S = 20.0
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable")]


def signing_key(settings: AuditSettings) -> OKPKey | None:
    """The service's key as configured, or the development key if one was made; else None."""
    made = Path(settings.data_dir) / KEY_FILE
    if settings.audit_signing_key or settings.audit_signing_key_file or made.exists():
        return load_signing_key(
            settings.environment,
            settings.audit_signing_key,
            settings.audit_signing_key_file,
            settings.data_dir,
        )
    return None


def verifying_key(settings: AuditSettings, key_file: Path | None) -> OKPKey | None:
    if key_file is not None:
        return read_public_key(key_file.read_text())
    return signing_key(settings)


async def published_heads(settings: AuditSettings) -> list[dict[str, Any]]:
    """The data of every ``audit.head.signed`` event on the heads topic."""
    found = []
    for record in await read_topic(settings, topics.AUDIT_HEADS):
        try:
            data = json.loads(record.value)["data"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(data, dict):
            found.append(data)
    return found


async def verify_database(
    settings: AuditSettings, key: OKPKey | None = None, *, topic: bool = True
) -> Verification:
    """The ``verify_log`` use case over the audit service's own database, with the heads
    stored there and (``topic``) those published on the heads topic."""
    published: list[dict[str, Any]] = []
    if topic and key is not None:
        try:
            published = await asyncio.wait_for(published_heads(settings), TOPIC_TIMEOUT_S)
        except Exception as exc:  # the broker is optional here: stored heads still count
            typer.echo(f"heads topic not read ({exc.__class__.__name__}); stored heads only",
                       err=True)  # fmt: skip
    client = make_client(settings)
    try:
        deps = Deps(log=MongoAuditLog(client[settings.db_name(SERVICE)]))
        return await verify_log(deps, published, key=key)
    finally:
        await client.close()


@audit.command("verify")
def verify_command(
    as_json: JsonOption = False,
    key_file: Annotated[
        Path | None, typer.Option("--key", help="the heads' public JWK (file)", exists=True)
    ] = None,
    topic: Annotated[
        bool, typer.Option("--topic/--no-topic", help="also read the heads topic")
    ] = True,
) -> None:
    """Check every record against the signed heads and every chain against its tip; name
    the first altered, deleted, inserted or reordered record of each chain."""
    settings = AuditSettings()
    key = verifying_key(settings, key_file)
    found = asyncio.run(verify_database(settings, key, topic=topic))
    if as_json:
        breaches = [asdict(b) for b in found.breaches]
        typer.echo(json.dumps({
            "ok": found.ok, "records": found.checked, "heads": found.heads,
            "unsigned": found.unsigned, "refused_heads": found.refused_heads,
            "signed_heads_checked": key is not None, "breaches": breaches,
        }))  # fmt: skip
    else:
        for b in found.breaches:
            typer.echo(f"BREACH {b.chain} seq {b.seq}: {b.kind} ({b.detail})")
        if key is None:
            typer.echo("no head key (--key): checked against the stored tips only", err=True)
        heads = ", ".join(f"{c}@{n}" for c, n in sorted(found.heads.items())) or "none"
        broken = f"{len(found.breaches)} chain(s) broken"
        typer.echo(f"{found.checked} records checked; signed heads: {heads}; "
                   f"{found.unsigned} after the latest heads (chain only); "
                   + ("chains intact" if found.ok else broken))  # fmt: skip
        if found.refused_heads:
            typer.echo(f"{found.refused_heads} head(s) with a bad signature ignored", err=True)
    if not found.ok:
        raise typer.Exit(code=1)


@audit.command("public-key")
def public_key_command() -> None:
    """Print the public JWK that verifies the signed heads (give it to auditors)."""
    key = signing_key(AuditSettings())
    if key is None:
        typer.echo("no head-signing key configured or made yet", err=True)
        raise typer.Exit(code=2)
    typer.echo(json.dumps(public_jwk(key)))


@audit.command("check-proof")
def check_proof_command(
    proof_file: Annotated[
        Path,
        typer.Argument(
            help="a GET /patients/{cid}/accesses/proof answer, saved", exists=True, dir_okay=False
        ),
    ],
    key_file: Annotated[
        Path, typer.Option("--key", help="the heads' public JWK (file)", exists=True)
    ],
    as_json: JsonOption = False,
) -> None:
    """Check a patient's access-log proof offline: signed heads, record hashes, inclusion."""
    found = check_proof(json.loads(proof_file.read_text()), read_public_key(key_file.read_text()))
    if as_json:
        typer.echo(json.dumps(asdict(found) | {"ok": found.ok}))
    else:
        for problem in found.problems:
            typer.echo(f"FAIL {problem}")
        verdict = "proof holds" if found.ok else f"{len(found.problems)} problem(s)"
        typer.echo(f"{found.proven} entries proven; {found.pending} after the latest heads "
                   f"(not yet provable); {verdict}")  # fmt: skip
    if not found.ok:
        raise typer.Exit(code=1)
