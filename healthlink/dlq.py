"""``healthlink dlq``: see everything set aside by any service, and retry it.

    healthlink dlq list [--reason R] [--service S] [--topic T] [--status pending|retried|all]
                        [--limit N] [--cursor C] [--json]
    healthlink dlq show ID
    healthlink dlq retry ID | --reason R | --all [--topic T] [--include-retried] [--url URL]

Payloads are never printed: a preview shows the size and FHIR resourceType counts.
``list`` and ``show`` read the dead-letter topics directly (read-only, they work
with every service stopped); ``list`` shows a page at a time, oldest first, and prints
the ``--cursor`` of the next. ``retry`` changes state, so it goes through the operator
API of the service that owns the letters' topic.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from shared.admin import Status, matcher, read_book
from shared.deadletter import describe
from shared.deadletter_cursor import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor
from shared.deadletter_pages import RetryLog, read_page
from shared.deadletter_reader import LetterReader
from shared.errors import InvalidInput
from shared.kafka_client import OPERATOR
from shared.settings import Settings

dlq = typer.Typer(help="Dead letters: what was set aside, and why.", no_args_is_help=True)


def _shape(preview: dict[str, object]) -> str:
    types = preview.get("resource_types")
    if isinstance(types, dict):
        return ", ".join(f"{k}×{v}" for k, v in types.items())
    return str(preview.get("event_type") or preview.get("kind", ""))


async def _page(
    reason: str, service: str, topic: str, status: Status, limit: int, cursor: str
) -> tuple[list[dict[str, Any]], str | None]:
    log = RetryLog()
    keep = matcher(log.retried, reason, service, topic, status)
    positions = decode_cursor(cursor) if cursor else {}
    reader = LetterReader(Settings(), OPERATOR, keep=False)
    page = await read_page(reader, positions, limit, keep, log)
    rows = [describe(letter, log.retried.get(letter.id)) for letter in page.letters]
    return rows, encode_cursor(page.positions) if page.more else None


@dlq.command("list")
def dlq_list(
    reason: str = typer.Option("", help="only this reason"),
    service: str = typer.Option("", help="only letters set aside by this service"),
    topic: str = typer.Option("", help="only letters from this source topic"),
    status: str = typer.Option("all", help="pending | retried | all"),
    limit: int = typer.Option(DEFAULT_LIMIT, min=1, max=MAX_LIMIT, help="letters per page"),
    cursor: str = typer.Option("", help="where the page before stopped (printed with it)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """List a page of dead letters, oldest first: id, reason, service, source, time,
    status, payload shape; then the --cursor of the next page."""
    if status not in ("pending", "retried", "all"):
        raise typer.BadParameter("pending, retried or all")
    chosen_status: Status = status  # type: ignore[assignment]
    try:
        rows, after = asyncio.run(_page(reason, service, topic, chosen_status, limit, cursor))
    except InvalidInput as exc:
        raise typer.BadParameter(exc.detail, param_hint="--cursor") from exc
    more = f"next page: --cursor {after}" if after else "no more"
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        typer.echo(more, err=True)
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
    typer.echo(f"{len(rows)} dead letter(s); {more}")


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
    topic: str = typer.Option("", help="only letters from this source topic"),
    include_retried: bool = typer.Option(False, help="also letters retried before"),
    url: str = typer.Option(
        "",
        help="the operator API of the service that owns the letters' topic (default: "
        "local ingest, the uploads' owner; another answers 403 naming the owner)",
    ),
) -> None:
    """Send dead letters back to their source topic, through a service's operator API."""
    from healthlink.operator import cli_errors, operator
    from healthlink.retry import DEFAULT_SERVICE, retry

    if not (letter_id or reason or all_):
        raise typer.BadParameter("name an id, --reason R or --all")
    with cli_errors():
        ops = operator(Settings(), DEFAULT_SERVICE, url)
        done = retry(ops, letter_id, reason, all_, include_retried, topic=topic)
    typer.echo(f"retried {len(done)}")
