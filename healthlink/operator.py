"""The operators' client: every CLI command that changes state calls a service's API.

No command writes a service's database or publishes on its topics: the service
that owns the state stays its only writer, checks the operator's bearer token
(``HEALTHLINK_ADMIN_TOKEN``) and validates the request like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import typer

from shared.settings import Settings


class OperatorError(Exception):
    """A service refused the request (exit code 1) or could not be reached (2)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Operator:
    """Calls the services' operator APIs; ``urls`` overrides the local defaults per service."""

    settings: Settings
    urls: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 30.0

    def url(self, service: str) -> str:
        return self.urls.get(service) or f"http://127.0.0.1:{self.settings.port(service)}"

    def call(
        self, method: str, service: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The JSON answer of ``method service/path``, or ``OperatorError``."""
        url = self.url(service) + path
        headers = {"authorization": f"Bearer {self.settings.admin_token}"}
        try:
            response = httpx.request(
                method, url, json=body, headers=headers, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            raise OperatorError(f"{service} unreachable at {url}: {type(exc).__name__}", 2) from exc
        try:
            answer: dict[str, Any] = response.json()
        except ValueError:
            answer = {}
        if response.status_code >= 400:
            issues = answer.get("issue") or [{}]
            detail = issues[0].get("diagnostics") or response.text[:200]
            raise OperatorError(f"refused ({response.status_code}): {detail}", 1)
        return answer

    def credentials(self, hospital: str) -> dict[str, Any]:
        """A hospital's admin key and upload key (the consent service's operator API)."""
        return self.call("GET", "consent", f"/hospitals/{hospital}/credentials")


def operator(settings: Settings, service: str, url: str) -> Operator:
    """An operator client with ``url`` (when given) for ``service``."""
    return Operator(settings, {service: url} if url else {})


@contextmanager
def cli_errors() -> Iterator[None]:
    """Print an ``OperatorError`` and exit with its code."""
    try:
        yield
    except OperatorError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=exc.exit_code) from exc
