"""``healthlink hospitals``: operators add participating hospitals (through the admin API).

The consent service stays the only writer: the CLI calls its operator endpoints
with ``HEALTHLINK_ADMIN_TOKEN`` and prints what they answer, including the new
hospital's admin key and upload signing key.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import typer

from shared.settings import Settings

app = typer.Typer(help="Participating hospitals (operators).", no_args_is_help=True)


def consent_url(url: str) -> str:
    settings = Settings()
    return url or f"http://127.0.0.1:{settings.port('consent')}"


def call(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {Settings().admin_token}"}
    try:
        response = httpx.request(method, url, json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        typer.echo(f"consent service unreachable at {url}: {type(exc).__name__}", err=True)
        raise typer.Exit(code=2) from exc
    answer: dict[str, Any] = response.json()
    if response.status_code >= 400:
        issues = answer.get("issue") or [{}]
        typer.echo(f"refused ({response.status_code}): {issues[0].get('diagnostics')}", err=True)
        raise typer.Exit(code=1)
    return answer


@app.command("add")
def add(
    code: str = typer.Argument(help="5-digit MOPH hospital code"),
    name: str = typer.Argument(help="the hospital's name"),
    role: str = typer.Option("consumer", help="consumer (reads only) or provider (also sends)"),
    consent_mode: str = typer.Option("standing", help="standing or per-visit"),
    url: str = typer.Option("", help="consent service URL (default: local)"),
) -> None:
    """Add a participating hospital; prints its credentials (admin key, upload key)."""
    body = {"code": code, "name": name, "role": role, "consent_mode": consent_mode}
    answer = call("POST", consent_url(url) + "/hospitals", body)
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@app.command("provider")
def provider(
    code: str = typer.Argument(help="5-digit MOPH hospital code"),
    url: str = typer.Option("", help="consent service URL (default: local)"),
) -> None:
    """Make a consumer hospital a data provider (it joined as a data user first)."""
    answer = call("PATCH", f"{consent_url(url)}/hospitals/{code}", {"role": "provider"})
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@app.command("list")
def list_hospitals(
    url: str = typer.Option("", help="consent service URL (default: local)"),
) -> None:
    """The public list: code, role, consent mode, name."""
    for h in call("GET", consent_url(url) + "/hospitals")["hospitals"]:
        typer.echo(f"{h['code']}  {h['role']:<8} {h['consent_mode']:<9} {h['name']}")
