"""Every service is built the same way (docs/architecture.md, "A service's shape")."""

from __future__ import annotations

import ast
import inspect
from importlib import import_module
from pathlib import Path

import pytest

from healthlink.apps import SERVICES
from shared.settings import Settings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
MODULES = ("settings", "errors", "repository", "handlers", "subscribers", "api", "app")
# handlers.py holds use cases: no web framework, broker or database driver in it.
NOT_IN_USE_CASES = ("fastapi", "starlette", "faststream", "aiokafka", "pymongo", "bson", "httpx")
LARGEST = 400  # lines of any product module
# Services restructured so far (issue 16); the rest follow.
CONFORMING = ("consent", "notify", "audit", "query", "auth", "ingest", "portal")


@pytest.mark.parametrize("service", CONFORMING)
def test_a_service_has_the_same_modules(service: str) -> None:
    folder = ROOT / "services" / service
    missing = [m for m in MODULES if not (folder / f"{m}.py").exists()]
    assert not missing, f"{service} lacks {missing}"


@pytest.mark.parametrize("service", CONFORMING)
def test_one_composition_root_with_one_signature(service: str) -> None:
    root = import_module(f"services.{service}.app")
    assert issubclass(root.SETTINGS, Settings) and root.SETTINGS is not Settings
    parameters = inspect.signature(root.create_app).parameters
    assert list(parameters) == ["settings", "deps"]
    assert parameters["deps"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["deps"].default is None


@pytest.mark.parametrize("service", CONFORMING)
def test_use_cases_import_no_framework_broker_or_driver(service: str) -> None:
    tree = ast.parse((ROOT / "services" / service / "handlers.py").read_text())
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
        if not isinstance(node, ast.ImportFrom) or node.module
    }
    assert not imported & set(NOT_IN_USE_CASES)


def test_every_service_is_listed() -> None:
    assert set(CONFORMING) <= set(SERVICES)


@pytest.mark.parametrize("top", ["services", "shared"])
def test_no_product_module_is_too_large(top: str) -> None:
    large = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / top).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > LARGEST
    }
    assert not large, f"split by concept: {large}"
