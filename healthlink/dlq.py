"""``healthlink dlq``: see everything set aside by any service, and retry it.

    healthlink dlq list [--reason R] [--service S] [--status pending|retried|all] [--json]
    healthlink dlq show ID
    healthlink dlq retry ID | --reason R | --all [--include-retried] [--url URL]

Payloads are never printed: a preview shows the size and FHIR resourceType counts.
``list`` and ``show`` read the dead-letter topics directly (read-only, they work
with every service stopped); ``retry`` changes state, so it goes through a
service's operator API.
"""

from __future__ import annotations

import asyncio
import json

import typer
from rich.console import Console
from rich.table import Table

from shared.admin import Status, read_book
from shared.settings import Settings

dlq = typer.Typer(help="Dead letters: what was set aside, and why.", no_args_is_help=True)


def _shape(preview: dict[str, object]) -> str:
    types = preview.get("resource_types")
    if isinstance(types, dict):
        return ", ".join(f"{k}×{v}" for k, v in types.items())
    return str(preview.get("event_type") or preview.get("kind", ""))


@dlq.command("list")
def dlq_list(
    reason: str = typer.Option("", help="only this reason"),
    service: str = typer.Option("", help="only letters set aside by this service"),
    status: str = typer.Option("all", help="pending | retried | all"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """List dead letters: id, reason, service, source, time, status, payload shape."""
    if status not in ("pending", "retried", "all"):
        raise typer.BadParameter("pending, retried or all")
    chosen_status: Status = status  # type: ignore[assignment]
    book = asyncio.run(read_book(Settings()))
    rows = [
        book.show(letter)
        for letter in book.select(reason=reason, service=service, status=chosen_status)
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    table = Table("id", "reason", "service", "source", "time", "status", "bytes", "shape")
    for row in rows:
        src = row["source"]
        table.add_row(
            row["id"], row["reason"], row["service"],
            f"{src['topic']}@{src['partition']}:{src['offset']}", row["time"][:19],
            row["status"], str(row["preview"]["bytes"]), _shape(row["preview"]),
        )  # fmt: skip
    Console().print(table)
    typer.echo(f"{len(rows)} dead letter(s)")


@dlq.command("show")
def dlq_show(letter_id: str) -> None:
    """Show one dead letter: reason, detail, source, safe headers, payload preview."""
    book = asyncio.run(read_book(Settings()))
    found = book.select(ids=[letter_id])
    if not found:
        typer.echo(f"no dead letter {letter_id}", err=True)
        raise typer.Exit(code=1)
    typer.echo(json.dumps(book.show(found[0]), indent=2, ensure_ascii=False))


@dlq.command("retry")
def dlq_retry(
    letter_id: str = typer.Argument("", help="one id"),
    reason: str = typer.Option("", help="every pending letter with this reason"),
    all_: bool = typer.Option(False, "--all", help="every pending dead letter"),
    include_retried: bool = typer.Option(False, help="also letters retried before"),
    url: str = typer.Option(
        "",
        help="the service whose operator API retries (default: local "
        "ingest; any service's answers)",
    ),
) -> None:
    """Send dead letters back to their source topic, through a service's operator API."""
    from healthlink.operator import cli_errors, operator
    from healthlink.retry import DEFAULT_SERVICE, retry

    if not (letter_id or reason or all_):
        raise typer.BadParameter("name an id, --reason R or --all")
    with cli_errors():
        ops = operator(Settings(), DEFAULT_SERVICE, url)
        done = retry(ops, letter_id, reason, all_, include_retried)
    typer.echo(f"retried {len(done)}")
