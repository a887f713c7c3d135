"""The operators' client: every CLI command that changes state calls a service's API.

No command writes a service's database or publishes on its topics: the service
that owns the state stays its only writer, checks the operator's bearer token and
validates the request like any other.

The token: with ``HEALTHLINK_OPERATOR_NAME`` set (a named operator or auditor registered
with ``healthlink operators add``), a short-lived access token from the auth service
(``client_credentials`` with ``private_key_jwt``, the key in ``HEALTHLINK_OPERATOR_KEY``
or ``<data dir>/operators/<name>.jwk``); the services record what it does under that
name. Without it, the bootstrap token ``HEALTHLINK_ADMIN_TOKEN`` (development's
break-glass identity, recorded as ``bootstrap``; production refuses it by default).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import typer
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import Settings


class OperatorLogin(BaseSettings):
    """Who the command line acts as: ``HEALTHLINK_OPERATOR_NAME`` and its key file."""

    model_config = SettingsConfigDict(env_prefix="HEALTHLINK_OPERATOR_", extra="ignore")

    name: str = ""
    key: str = ""


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
    login: OperatorLogin = field(default_factory=OperatorLogin)
    _token: str = ""

    def token(self) -> str:
        """The named operator's access token (fetched once), or the bootstrap token."""
        if not self.login.name:
            return self.settings.admin_token
        if not self._token:
            from healthlink.operators import fetch_token

            try:
                self._token = fetch_token(self.settings, self.login.name, self.login.key)
            except (OSError, ValueError, httpx.HTTPError) as exc:
                raise OperatorError(f"no token for operator {self.login.name}: {exc}", 2) from exc
        return self._token

    def url(self, service: str) -> str:
        return self.urls.get(service) or f"http://127.0.0.1:{self.settings.port(service)}"

    def call(
        self, method: str, service: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The JSON answer of ``method service/path``, or ``OperatorError``."""
        url = self.url(service) + path
        headers = {"authorization": f"Bearer {self.token()}"}
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
