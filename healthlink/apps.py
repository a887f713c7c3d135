"""The five services by name, each built by its own composition root."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from fastapi import FastAPI

from shared.settings import SERVICE_PORTS, Settings

SERVICES = tuple(SERVICE_PORTS)


def app_factory(service: str) -> Callable[[Settings], FastAPI]:
    if service not in SERVICE_PORTS:
        raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    module = import_module(f"services.{service}.app")
    factory: Callable[[Settings], FastAPI] = module.create_app
    return factory
