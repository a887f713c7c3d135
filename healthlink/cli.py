"""The ``healthlink`` command: run services, inspect and retry dead letters, load demo data."""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import sys
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from healthlink.apidocs import docs_cli
from healthlink.apps import SERVICES, build_app, settings_for
from healthlink.audit import audit as audit_cli
from healthlink.authtokens import auth as auth_cli
from healthlink.dlq import dlq
from healthlink.kafka import app as kafka_app
from healthlink.operators import app as operators_app
from healthlink.physicians import app as physicians_app
from healthlink.simulator import simulate_command
from shared.lifeline import exit_within
from shared.settings import Settings

HTTP_GRACE_S = 2  # requests in flight at a stop signal get this long
SERVE_DEADLINE_S = 8.0  # then the service's own shutdown (shared/runtime.py, 5 s at most)

cli = typer.Typer(help="Health Link, open and faster.", no_args_is_help=True)
cli.add_typer(dlq, name="dlq")
cli.add_typer(physicians_app, name="physicians")
cli.add_typer(docs_cli, name="docs")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(auth_cli, name="auth")
cli.add_typer(operators_app, name="operators")
cli.add_typer(kafka_app, name="kafka")
cli.add_typer(__import__("healthlink.hospitalkeys").hospitals.app, name="hospitals")
cli.command("simulate")(simulate_command)


@cli.command()
def serve(service: str, port: int = typer.Option(0, help="default: the service's own")) -> None:
    """Run one service (consent, ingest, query, audit, notify, auth) on loopback."""
    if service not in SERVICES:
        raise typer.BadParameter(f"one of {', '.join(SERVICES)}")
    settings = settings_for(service)
    app = build_app(service, settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=port or settings.port(service),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=HTTP_GRACE_S,
    )
    Server(config).run()


class Server(uvicorn.Server):
    """uvicorn's server; the process ends ``SERVE_DEADLINE_S`` after the first stop
    signal even if its broker or database never answers (docs/operations.md)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            exit_within(SERVE_DEADLINE_S, f"stop signal {signal.Signals(sig).name}")
        super().handle_exit(sig, frame)


@cli.command()
def replay(
    service: str,
    from_beginning: bool = typer.Option(False, "--from-beginning", help="the default"),
    from_time: str = typer.Option("", help="ISO-8601 time: replay what arrived since"),
    from_offset: int = typer.Option(-1, help="replay each partition from this offset"),
    topic: Annotated[list[str] | None, typer.Option(help="only these topics (repeatable)")] = None,
    fresh_db: bool = typer.Option(False, help="rebuild into <db>_rebuild, then swap it in"),
    dry_run: bool = typer.Option(False, help="print the plan, change nothing"),
    reset_only: bool = typer.Option(False, help="only reset the group; the service replays"),
) -> None:
    """Rebuild a stopped service's projections from its Kafka topics."""
    from rich.console import Console

    from healthlink.offsets import ServiceRunning, StartAt
    from healthlink.operators import acting_operator, record_action
    from healthlink.replay import parse_time, print_report, run
    from shared.errors import HealthLinkError

    if service not in SERVICES:
        raise typer.BadParameter(f"one of {', '.join(SERVICES)}")
    if sum((from_beginning, bool(from_time), from_offset >= 0)) > 1:
        raise typer.BadParameter("choose one of --from-beginning, --from-time, --from-offset")
    start = StartAt()
    if from_time:
        start = StartAt("time", parse_time(from_time))
    elif from_offset >= 0:
        start = StartAt("offset", from_offset)
    settings = Settings()
    mode = "reset-only" if reset_only else "fresh-db" if fresh_db else "replay"
    try:  # a replay changes a service's state: an operator's, recorded before it runs
        if not dry_run:
            who = acting_operator(settings)
            detail = {"mode": mode, "start": start.kind, "topics": ",".join(topic or [])}
            record_action(settings, service, who, "replay.run", service, detail)
        report = run(
            settings, service, start=start, only_topics=topic or None, fresh_db=fresh_db,
            dry_run=dry_run, reset_only=reset_only, show_progress=True,
        )  # fmt: skip
    except (ServiceRunning, ValueError, OSError, HealthLinkError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    print_report(report, Console())


@cli.command()
def demo() -> None:
    """Load the demo data set into a running platform and print working curl commands."""
    from healthlink.demo import run

    asyncio.run(run(Settings()))


def main() -> None:
    """The ``healthlink`` command. As a console script its ``__main__`` is that script,
    which a ``spawn`` child (ingest's validation workers in a replay) runs again, and so
    imports this whole CLI, every command's modules, before its own work. Named as
    ``python -m healthlink`` names it, the child skips it (``multiprocessing.spawn``
    does not re-run a ``*.__main__`` module)."""
    script = sys.modules["__main__"]
    if getattr(script, "__spec__", None) is None:
        script.__spec__ = importlib.util.find_spec("healthlink.__main__")
    cli()
