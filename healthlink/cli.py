"""The ``healthlink`` command: run services, inspect and retry dead letters, load demo data."""

from __future__ import annotations

import asyncio
import json

import typer
import uvicorn

from healthlink.apps import SERVICES, app_factory
from healthlink.audit import audit as audit_cli
from healthlink.simulator import simulate_command
from shared.settings import Settings

cli = typer.Typer(help="Health Link, open and faster.", no_args_is_help=True)
dlq = typer.Typer(help="Dead letters: what was set aside, and why.", no_args_is_help=True)
cli.add_typer(dlq, name="dlq")
cli.add_typer(audit_cli, name="audit")
cli.command("simulate")(simulate_command)


@cli.command()
def serve(service: str, port: int = typer.Option(0, help="default: the service's own")) -> None:
    """Run one service (consent, ingest, query, audit, notify) on loopback."""
    if service not in SERVICES:
        raise typer.BadParameter(f"one of {', '.join(SERVICES)}")
    settings = Settings()
    app = app_factory(service)(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=port or settings.port(service),
        log_level="warning",
        access_log=False,
    )


@dlq.command("list")
def dlq_list() -> None:
    """List dead letters: id, reason, service, source topic."""
    from healthlink.dlq import read_all

    for letter in asyncio.run(read_all(Settings())):
        typer.echo(
            f"{letter.id}  {letter.reason:<18} {letter.service:<8} "
            f"{letter.source.topic}@{letter.source.partition}:{letter.source.offset}  "
            f"{letter.time}"
        )


@dlq.command("show")
def dlq_show(letter_id: str) -> None:
    """Show one dead letter: reason, detail, headers and a payload preview."""
    from healthlink.dlq import read_all

    for letter in asyncio.run(read_all(Settings())):
        if letter.id == letter_id:
            typer.echo(
                json.dumps(
                    {
                        "id": letter.id,
                        "reason": letter.reason,
                        "detail": letter.detail,
                        "service": letter.service,
                        "time": letter.time,
                        "topic": letter.source.topic,
                        "headers": {
                            k: v for k, v in letter.source.headers.items() if k != "hl-signature"
                        },
                        "bytes": len(letter.source.value),
                    },
                    indent=2,
                    ensure_ascii=False,
                )
            )
            return
    raise typer.Exit(code=1)


@dlq.command("retry")
def dlq_retry(
    letter_id: str = typer.Argument("", help="one id"),
    reason: str = typer.Option("", help="all with this reason"),
    all_: bool = typer.Option(False, "--all", help="every dead letter"),
) -> None:
    """Send dead letters back to their source topic (handlers are idempotent)."""
    from healthlink.retry import retry

    count = asyncio.run(retry(Settings(), letter_id, reason, all_))
    typer.echo(f"retried {count}")


@cli.command()
def demo() -> None:
    """Load the demo data set into a running platform and print working curl commands."""
    from healthlink.demo import run

    asyncio.run(run(Settings()))


def main() -> None:
    cli()
