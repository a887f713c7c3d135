"""``healthlink physicians load <file.csv>``: load the Medical Council licence mirror.

CSV columns: ``licence,name,pin`` (plain PIN, hashed here with argon2id, so no
PIN leaves the operator's machine) or ``licence,name,pin_hash`` (an ``$argon2id$``
hash); optional ``active`` (``true``/``false``, default true). Every row goes to
the query service's operator API (``POST /registry/licences``), the mirror's only
writer. Loading again updates; nothing else changes.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Annotated

import typer

from healthlink.operator import Operator, cli_errors, operator
from services.query.physicians import hash_pin, is_argon2id
from shared.settings import Settings

app = typer.Typer(help="The Medical Council licence mirror.", no_args_is_help=True)
CsvPath = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
LICENCE = re.compile(r"^\d{3,8}$")


def read_rows(path: Path) -> list[tuple[str, str, str, bool]]:
    """(licence, name, argon2id hash, active) per row; ``ValueError`` names a bad line."""
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            licence, name = (row.get("licence") or "").strip(), (row.get("name") or "").strip()
            pin, pin_hash = row.get("pin") or "", (row.get("pin_hash") or "").strip()
            if not LICENCE.match(licence) or not name:
                raise ValueError(f"line {line}: licence (3-8 digits) and name are required")
            if pin_hash and not is_argon2id(pin_hash):
                raise ValueError(f"line {line}: pin_hash must be an argon2id hash")
            if not pin_hash and len(pin) < 4:
                raise ValueError(f"line {line}: pin (4+ characters) or pin_hash is required")
            active = (row.get("active") or "true").strip().lower() not in ("false", "0", "no")
            rows.append((licence, name, pin_hash or hash_pin(pin), active))
    return rows


def load_rows(ops: Operator, rows: list[tuple[str, str, str, bool]]) -> int:
    """Send every row to the query service; returns how many it took."""
    for licence, name, pin_hash, active in rows:
        body = {"licence": licence, "name": name, "pin": pin_hash, "active": active}
        ops.call("POST", "query", "/registry/licences", body)
    return len(rows)


@app.command("load")
def load(
    path: CsvPath,
    url: str = typer.Option("", help="query service URL (default: local)"),
) -> None:
    """Load licences from a CSV file into the query service's mirror."""
    try:
        rows = read_rows(path)
    except ValueError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    with cli_errors():
        count = load_rows(operator(Settings(), "query", url), rows)
    typer.echo(f"loaded {count} licences")
