"""The five services by name, each built by its own composition root.

Every ``services/<name>/app.py`` has ``SERVICE``, ``SETTINGS`` (its settings class,
the shared ``Settings`` extended) and ``create_app(settings, *, deps=None)``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from fastapi import FastAPI

from shared.settings import SERVICE_PORTS, Settings

SERVICES = tuple(SERVICE_PORTS)


def _composition_root(service: str) -> Any:
    if service not in SERVICE_PORTS:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return import_module(f"services.{service}.app")


def settings_class(service: str) -> type[Settings]:
    found: type[Settings] = _composition_root(service).SETTINGS
    return found


def settings_for(service: str, base: Settings | None = None, **overrides: Any) -> Settings:
    """``service``'s settings: from the environment, or ``base`` (shared values) with the
    service's own from the environment, then ``overrides``. A ``base`` that already is
    the service's settings (or a subclass of them) is used as it is."""
    wanted = settings_class(service)
    if isinstance(base, wanted) and not overrides:
        return base
    values = {**(base.model_dump() if base is not None else {}), **overrides}
    return wanted(**values)


def build_app(service: str, base: Settings | None = None, **overrides: Any) -> FastAPI:
    """``service``'s app from its own composition root and settings."""
    app: FastAPI = _composition_root(service).create_app(settings_for(service, base, **overrides))
    return app
