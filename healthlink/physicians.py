"""``healthlink physicians load <file.csv>``: load the Medical Council licence mirror.

CSV columns: ``licence,name,pin`` (plain PIN, hashed here with argon2id) or
``licence,name,pin_hash`` (an ``$argon2id$`` hash); optional ``active``
(``true``/``false``, default true). Loading again updates; nothing else changes.
"""

from __future__ import annotations

import asyncio
import csv
import re
from pathlib import Path
from typing import Annotated

import typer

from services.query.physicians import hash_pin, is_argon2id
from services.query.repository import MongoLicenceRegistry
from shared.database import make_client
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


async def load_rows(settings: Settings, rows: list[tuple[str, str, str, bool]]) -> int:
    client = make_client(settings)
    try:
        registry = MongoLicenceRegistry(client[settings.db_name("query")])
        for licence, name, pin_hash, active in rows:
            await registry.put(licence, name, pin_hash, active)
    finally:
        await client.close()
    return len(rows)


@app.command("load")
def load(path: CsvPath) -> None:
    """Load licences from a CSV file into the query service's mirror."""
    try:
        rows = read_rows(path)
    except ValueError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    count = asyncio.run(load_rows(Settings(), rows))
    typer.echo(f"loaded {count} licences")
