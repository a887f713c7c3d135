"""``healthlink audit verify``: recompute every audit chain against its stored tip."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import typer

from services.audit.app import SERVICE
from services.audit.handlers import Deps, Verification, verify_log
from services.audit.repository import MongoAuditLog
from services.audit.settings import AuditSettings
from shared.database import make_client

audit = typer.Typer(help="The audit log: verify its hash chains.", no_args_is_help=True)


async def verify_database(settings: AuditSettings) -> Verification:
    """The ``verify_log`` use case over the audit service's own database."""
    client = make_client(settings)
    try:
        return await verify_log(Deps(log=MongoAuditLog(client[settings.db_name(SERVICE)])))
    finally:
        await client.close()


@audit.command("verify")
def verify_command(as_json: bool = typer.Option(False, "--json", help="machine-readable")) -> None:
    """Report the first altered, deleted, inserted or reordered record of each chain."""
    found = asyncio.run(verify_database(AuditSettings()))
    if as_json:
        breaches = [asdict(b) for b in found.breaches]
        typer.echo(json.dumps({"ok": found.ok, "records": found.checked, "breaches": breaches}))
    else:
        for b in found.breaches:
            typer.echo(f"BREACH {b.chain} seq {b.seq}: {b.kind} ({b.detail})")
        broken = f"{len(found.breaches)} chain(s) broken"
        typer.echo(f"{found.checked} records checked; " + ("chains intact" if found.ok else broken))
    if not found.ok:
        raise typer.Exit(code=1)
