"""bench/report.py: the table of docs/performance.md and the plot, from scale.json rows."""

from pathlib import Path

import pytest

from bench.report import BEGIN, END, plot, rounds_of, table, with_table

ROWS = [
    {"store": "s", "round": 2, "resources": 1_000_000, "patients": 1000,
     "ingest_resources_per_s": 2100.4, "everything_p50_ms": 20.04, "everything_p99_ms": 31.5,
     "by_key_read_p50_ms": 0.81, "revoke_to_enforced_p99_ms": 88.2},
    {"store": "s", "round": 1, "resources": 500_000, "patients": 500,
     "ingest_resources_per_s": 2200.0, "everything_p50_ms": 19.0, "everything_p99_ms": 30.0},
    {"store": "other", "round": 1, "resources": 10, "patients": 1},
]  # fmt: skip


def test_the_table_has_a_line_per_round_smallest_store_first(tmp_path: Path) -> None:
    path = tmp_path / "scale.json"
    path.write_text('{"rounds": ' + str(ROWS).replace("'", '"') + "}")
    rows = rounds_of("s", path)
    assert [r["round"] for r in rows] == [1, 2]
    lines = table(rows).splitlines()
    assert len(lines) == 4 and lines[0].startswith("| resources | patients | ingest res/s")
    assert "| 1,000,000 | 1,000 | 2,100 |" in lines[3]
    assert "| 20.0 / 31.5 |" in lines[3] and "| 0.81 / – |" in lines[3]
    assert "| – |" in lines[2]  # a figure the round does not have


def test_only_the_text_between_the_markers_is_replaced() -> None:
    page = f"# Title\n\nhand text\n{BEGIN}\nold table\n{END}\nmore hand text\n"
    out = with_table(page, ROWS[:1])
    assert out.startswith("# Title\n\nhand text\n") and out.endswith(f"{END}\nmore hand text\n")
    assert "old table" not in out and "| 1,000,000 |" in out
    with pytest.raises(SystemExit):
        with_table("no markers", ROWS)


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    out = tmp_path / "img" / "scale.png"
    plot(ROWS[:2][::-1], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
