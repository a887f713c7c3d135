"""HAPI FHIR 8.8's R4 instance validator, built once from ``tests/support/hapi/``.

``validator()`` builds the small Maven project (its dependencies copied into
``~/.cache/healthlink/hapi-8.8.0/lib``, ``Validate.java`` compiled into ``classes``)
the first time, and returns a ``HapiValidator``; the test is skipped, with the
reason, when Java or Maven is missing or the build fails (no network, say).
``validate`` runs the validator once over many JSON documents (the JVM starts once)
and returns each document's error messages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HAPI_VERSION = "8.8.0"
PROJECT = Path(__file__).parent / "hapi"
CACHE = Path(os.environ.get("HEALTHLINK_HAPI_CACHE", Path.home() / ".cache/healthlink")) / (
    f"hapi-{HAPI_VERSION}"
)
BUILD_TIMEOUT_S = 900
VALIDATE_TIMEOUT_S = 600


@dataclass(frozen=True)
class HapiValidator:
    java: str
    classpath: str

    def validate(self, documents: dict[str, Any]) -> dict[str, list[str]]:
        """Errors (and fatals) per document name; an empty list: valid."""
        with tempfile.TemporaryDirectory(prefix="hapi-") as tmp:
            files = []
            for name, doc in documents.items():
                path = Path(tmp) / f"{name}.json"
                path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
                files.append(str(path))
            out = subprocess.run(
                [self.java, "-Xmx768m", "-XX:TieredStopAtLevel=1", "-XX:ActiveProcessorCount=1",
                 "-cp", self.classpath, "Validate", *files],
                capture_output=True, text=True, timeout=VALIDATE_TIMEOUT_S, check=True,
            )  # fmt: skip
        errors: dict[str, list[str]] = {name: [] for name in documents}
        for line in out.stdout.splitlines():
            kind, _, rest = line.partition(" ")
            file, _, message = rest.partition(" ")
            name = file.removesuffix(".json")
            if kind == "ERROR" and name in errors:
                errors[name].append(message)
        return errors


def _built() -> bool:
    return (CACHE / "classes" / "Validate.class").is_file() and any((CACHE / "lib").glob("*.jar"))


def _build(java: str, mvn: str, javac: str) -> None:
    lib, classes = CACHE / "lib", CACHE / "classes"
    lib.mkdir(parents=True, exist_ok=True)
    classes.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [mvn, "-q", "-B", "-f", str(PROJECT / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={lib}", "-DincludeScope=runtime"],
        check=True, capture_output=True, timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    subprocess.run(
        [javac, "-nowarn", "-d", str(classes), "-cp", f"{lib}/*",
         str(PROJECT / "src/main/java/Validate.java")],
        check=True, capture_output=True, timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip


def validator() -> HapiValidator:
    """The validator, built if needed; skips the calling test when it cannot be."""
    java, mvn, javac = shutil.which("java"), shutil.which("mvn"), shutil.which("javac")
    if java is None or javac is None:
        pytest.skip("HAPI FHIR validator: java/javac not installed")
    source = PROJECT / "src/main/java/Validate.java"
    built = CACHE / "classes/Validate.class"
    fresh = _built() and built.stat().st_mtime >= source.stat().st_mtime
    if not fresh:
        if mvn is None:
            pytest.skip("HAPI FHIR validator: mvn not installed (needed once to build it)")
        try:
            _build(java, mvn, javac)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            text = detail.decode(errors="replace")[-300:] if isinstance(detail, bytes) else ""
            pytest.skip(f"HAPI FHIR validator could not be built: {exc} {text}")
    return HapiValidator(java, f"{CACHE / 'classes'}:{CACHE / 'lib'}/*")
