"""``healthlink kafka``: Kafka's principals, credentials and ACLs (docs/kafka-security.md).

``apply-acls`` gives every service principal its SCRAM credential (a random password
kept in the credentials file, ``HEALTHLINK_KAFKA_CREDENTIALS``), applies the ACL table
of ``shared/acl.py`` and creates the platform's topics; ``deploy/local/infra.sh up``
runs it at every start (idempotent); in Docker Compose and Kubernetes a one-shot
``kafka-init`` service / Job does. ``ready`` waits until a principal can log in and
describe its topics (the Kubernetes services' init container: they start only after
``kafka-init`` made their credentials, ACLs and topics). ``acls`` prints the table.
"""

from __future__ import annotations

import asyncio
import json
import time

import typer

from shared import acl
from shared.kafka_admin import apply_platform, missing_topics
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


@app.command("ready")
def ready(
    principal: str = typer.Argument(..., help="a service (or operator), as in shared/acl.py"),
    timeout: float = typer.Option(300.0, min=0, help="seconds to keep trying"),
) -> None:
    """Wait until PRINCIPAL logs in and can describe every topic it reads or writes."""
    if principal not in acl.PRINCIPALS:
        raise typer.BadParameter(f"one of {', '.join(acl.PRINCIPALS)}", param_hint="PRINCIPAL")
    deadline = time.monotonic() + timeout
    while True:
        try:
            missing = asyncio.run(missing_topics(Settings(), principal))
            why = f"cannot describe {', '.join(missing)}"
        except Exception as exc:  # not up yet, or no credential yet: try again
            missing, why = [principal], f"cannot log in ({type(exc).__name__})"
        if not missing:
            typer.echo(f"{principal}: ready")
            return
        if time.monotonic() >= deadline:
            typer.echo(f"{principal}: not ready after {timeout:g}s: {why}", err=True)
            raise typer.Exit(code=1)
        time.sleep(2.0)
