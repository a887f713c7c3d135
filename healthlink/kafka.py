"""``healthlink kafka``: Kafka's principals, credentials and ACLs (docs/kafka-security.md).

``apply-acls`` gives every service principal its SCRAM credential (a random password
kept in the credentials file, ``HEALTHLINK_KAFKA_CREDENTIALS``), applies the ACL table
of ``shared/acl.py`` and creates the platform's topics; ``deploy/local/infra.sh up``
runs it at every start (idempotent). ``acls`` prints the table.
"""

from __future__ import annotations

import asyncio
import json

import typer

from shared import acl
from shared.kafka_admin import apply_platform
from shared.settings import Settings

app = typer.Typer(help="Kafka principals, credentials and ACLs.", no_args_is_help=True)


@app.command("apply-acls")
def apply_acls(
    prefix: str = typer.Option("", help="a topic prefix (tests): only its ACLs and topics"),
) -> None:
    """Service credentials, the ACL table (shared/acl.py) and the platform's topics."""
    counts = asyncio.run(apply_platform(Settings(), prefix))
    typer.echo(json.dumps(counts))


@app.command("acls")
def show_acls(markdown: bool = typer.Option(False, help="as a Markdown table")) -> None:
    """The ACL table: principal, topics written, topics read, consumer groups."""
    rows = acl.table()
    if markdown:
        typer.echo("| principal | writes (and creates) | reads | consumer groups |")
        typer.echo("|---|---|---|---|")
        for row in rows:
            typer.echo("| " + " | ".join(f"`{c}`" if c != "–" else c for c in row) + " |")
        return
    for principal, writes, reads, groups in rows:
        typer.echo(f"{principal}\n  writes: {writes}\n  reads:  {reads}\n  groups: {groups}")
