"""The store-size report of ``make bench-scale``: a table and a plot in docs/performance.md.

``python -m bench.report [--store NAME]`` reads the store's rounds from
``bench/results/scale.json`` (default store ``HEALTHLINK_SCALE_STORE`` = ``hlscale``),
writes the plot of latency and throughput against store size to
``docs/img/scale.png`` and puts the table between the ``scale-table`` markers of
``docs/performance.md`` (the text around them is written by hand). ``make bench-scale``
runs it after the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scale.json"
PAGE = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "img" / "scale.png"
BEGIN, END = "<!-- scale-table -->", "<!-- /scale-table -->"

# (column heading, key in a round's row, decimals)
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("resources", "resources", 0),
    ("patients", "patients", 0),
    ("ingest res/s", "ingest_resources_per_s", 0),
    ("charts catch up s", "charts_catchup_s", 0),
    ("reg. + consent /s", "registration_consent_per_s", 1),
    ("`$everything` p50 / p99 ms", "everything", 1),
    ("summary p50 / p99 ms", "summary", 1),
    ("search p50 / p99 ms", "search", 1),
    ("revoke→enforced p99 ms", "revoke_to_enforced_p99_ms", 0),
    ("audit lag p99 ms", "audit_lag_p99_ms", 0),
    ("by-key read p50 / p99 ms", "by_key_read", 2),
    ("disk MB / M res.", "disk_mb_per_million_resources", 0),
)
LATENCIES = ("everything", "summary", "search", "by_key_read")


def rounds_of(store: str, path: Path = RESULTS) -> list[dict[str, Any]]:
    """The store's rounds, smallest store first."""
    rows = json.loads(path.read_text()).get("rounds", []) if path.exists() else []
    return sorted((r for r in rows if r.get("store") == store), key=lambda r: r["resources"])


def cell(row: Mapping[str, Any], key: str, decimals: int) -> str:
    def num(value: Any) -> str:
        return "–" if value is None else f"{value:,.{decimals}f}"

    if key in LATENCIES:
        return f"{num(row.get(f'{key}_p50_ms'))} / {num(row.get(f'{key}_p99_ms'))}"
    return num(row.get(key))


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table, one line per round."""
    head = "| " + " | ".join(name for name, _, _ in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    lines = ["| " + " | ".join(cell(r, k, d) for _, k, d in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *lines])


def with_table(page: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """``page`` with the text between the markers replaced by the table."""
    if BEGIN not in page or END not in page:
        raise SystemExit(f"{PAGE} has no {BEGIN} ... {END} markers")
    before, rest = page.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    return f"{before}{BEGIN}\n{table(rows)}\n{END}{after}"


def plot(rows: Sequence[Mapping[str, Any]], out: Path) -> None:
    """Latency (p99, log scale) and throughput against millions of resources stored."""
    import matplotlib

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt

    size = [r["resources"] / 1e6 for r in rows]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for key, label in (
        ("everything_p99_ms", "$everything (1,000 records)"),
        ("summary_p99_ms", "summary"),
        ("search_p99_ms", "search"),
        ("revoke_to_enforced_p99_ms", "revoke → enforced"),
        ("audit_lag_p99_ms", "audit lag"),
        ("by_key_read_p99_ms", "by-key read"),
    ):
        lat.plot(size, [r.get(key) for r in rows], marker="o", label=label)
    lat.set(yscale="log", xlabel="resources stored (millions)", ylabel="p99 (ms)")
    lat.set_title("Latency p99 as the store grows")
    lat.legend(fontsize=8)
    lat.grid(True, which="both", alpha=0.3)
    thr.plot(size, [r.get("ingest_resources_per_s") for r in rows], marker="o", color="C0")
    thr.set(xlabel="resources stored (millions)", ylabel="ingest (resources/s)", ylim=(0, None))
    thr.set_title("Throughput as the store grows")
    reg = thr.twinx()
    reg.plot(size, [r.get("registration_consent_per_s") for r in rows], marker="s", color="C1")
    reg.set(ylabel="registration + consent (patients/s)", ylim=(0, None))
    thr.legend(["ingest res/s"], loc="lower left", fontsize=8)
    reg.legend(["registration + consent /s"], loc="lower right", fontsize=8)
    thr.grid(True, alpha=0.3)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument("--store", default=os.environ.get("HEALTHLINK_SCALE_STORE", "hlscale"))
    store = parser.parse_args(argv).store
    rows = rounds_of(store)
    if not rows:
        raise SystemExit(f"no rounds of store {store!r} in {RESULTS}")
    plot(rows, PLOT)
    PAGE.write_text(with_table(PAGE.read_text(), rows))
    print(f"[bench.report] {len(rows)} rounds of {store}: {PLOT.name} and the table written")


if __name__ == "__main__":
    main()
