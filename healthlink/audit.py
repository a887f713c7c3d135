"""``healthlink audit verify``: recompute every audit chain against its stored tip."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict

import typer

from services.audit.app import SERVICE
from services.audit.chain import Breach
from services.audit.handlers import verify
from services.audit.repository import AuditLog
from shared.database import make_client
from shared.settings import Settings

audit = typer.Typer(help="The audit log: verify its hash chains.", no_args_is_help=True)


async def verify_database(settings: Settings) -> tuple[int, list[Breach]]:
    """How many records were checked, and the first breach of each broken chain."""
    client = make_client(settings)
    try:
        log_ = AuditLog(client[settings.db_name(SERVICE)])
        records, _ = await log_.snapshot()
        return sum(len(r) for r in records.values()), await verify(log_)
    finally:
        await client.close()


@audit.command("verify")
def verify_command(as_json: bool = typer.Option(False, "--json", help="machine-readable")) -> None:
    """Report the first altered, deleted, inserted or reordered record of each chain."""
    checked, breaches = asyncio.run(verify_database(Settings()))
    if as_json:
        typer.echo(
            json.dumps(
                {"ok": not breaches, "records": checked, "breaches": [asdict(b) for b in breaches]}
            )
        )
    else:
        for b in breaches:
            typer.echo(f"BREACH {b.chain} seq {b.seq}: {b.kind} ({b.detail})")
        typer.echo(
            f"{checked} records checked; "
            + ("chains intact" if not breaches else f"{len(breaches)} chain(s) broken")
        )
    if breaches:
        raise typer.Exit(code=1)
