"""Percentiles and the results table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summarise(name: str, samples_ms: Sequence[float]) -> dict[str, float]:
    return {
        f"{name}_p50_ms": round(percentile(samples_ms, 50), 2),
        f"{name}_p99_ms": round(percentile(samples_ms, 99), 2),
    }


def write(results: Mapping[str, float], path: Path = RESULTS) -> None:
    """Merge ``results`` into the flat JSON object (metric name -> number)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    merged: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    merged.update(results)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")


def table(results: Mapping[str, float]) -> str:
    width = max(len(k) for k in results) if results else 10
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ----------"]
    lines += [f"{k:<{width}}  {v:>10.2f}" for k, v in sorted(results.items())]
    return "\n".join(lines)
