"""Every event name lives in the catalogue (``shared/events``) and nowhere else.

The one event hospitals read, ``data.requested``, is part of the hospital wire
contract: its name and payload are defined in the adapter package
(``healthlink_adapter/datarequests.py``) and the catalogue takes them from there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.events import CATALOGUE

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("shared", "services", "healthlink", "bench", "clients")
CATALOGUE_DIR = ROOT / "shared" / "events"
WIRE_EVENTS = ROOT / "clients/healthlink-adapter/src/healthlink_adapter/datarequests.py"


def product_files() -> list[Path]:
    found = []
    for top in PRODUCT:
        for path in (ROOT / top).rglob("*.py"):
            if CATALOGUE_DIR not in path.parents and path != WIRE_EVENTS:
                found.append(path)
    return found


def literals(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_no_event_name_is_written_outside_the_catalogue() -> None:
    names = {kind.NAME for kind in CATALOGUE.values()} | set(CATALOGUE)
    found = {
        f"{path.relative_to(ROOT)}: {text}"
        for path in product_files()
        for text in literals(path) & names
    }
    assert not found, "use the event's class (shared.events) instead of its name"


def test_the_check_sees_the_product() -> None:
    assert len(product_files()) > 80
