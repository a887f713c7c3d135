"""bench/scale.py's pure parts: round planning, results merging (resume), /proc parsing."""

from pathlib import Path

from bench.scale import (
    BUNDLE,
    RoundPlan,
    Target,
    add_to_last_round,
    append_round,
    merged,
    parent_of,
    plan_round,
    provider_codes,
    round_table,
    rss_kib,
    target_from,
    tree_rss_mb,
)

SMALL = Target(resources=45_000, patients=450, rounds=3)


def test_first_round_is_one_step_of_the_target() -> None:
    assert plan_round(SMALL, 0, 0) == RoundPlan(1, 150, 15_000 // BUNDLE)


def test_a_resumed_run_continues_from_the_store_it_finds() -> None:
    # 16,500 records (a round plus the bench's own charts): round 2, patients topped up.
    assert plan_round(SMALL, 16_500, 180) == RoundPlan(2, 120, 300)


def test_the_last_round_only_adds_what_is_missing() -> None:
    plan = plan_round(SMALL, 44_000, 470)
    assert plan == RoundPlan(3, 1, 20)


def test_the_round_number_never_passes_the_rounds_asked_for() -> None:
    plan = plan_round(SMALL, 44_999, 450)
    assert plan is not None and plan.number == 3


def test_nothing_to_plan_once_the_target_is_reached() -> None:
    assert plan_round(SMALL, 45_000, 450) is None
    assert plan_round(SMALL, 60_000, 10) is None


def test_default_target_is_the_issues() -> None:
    target, max_rounds, replay = target_from([], {})
    assert (target.resources, target.patients, max_rounds, replay) == (5_000_000, 50_000, 0, False)
    assert plan_round(target, 0, 0) == RoundPlan(1, 5_000, 10_000)


def test_target_from_environment_then_arguments() -> None:
    env = {"HEALTHLINK_SCALE_RESOURCES": "30000", "HEALTHLINK_SCALE_ROUNDS": "3"}
    target, _, _ = target_from(["--patients", "300", "--max-rounds", "1"], env)
    assert target == Target(30_000, 300, 3, 20)
    assert target_from(["--max-rounds", "1"], env)[1] == 1
    assert target_from([], {"HEALTHLINK_SCALE_REPLAY": "1"})[2] is True


def test_many_hospitals_real_ones_first() -> None:
    codes = provider_codes(20)
    assert len(codes) == len(set(codes)) == 20
    assert codes[0] == "10670" and "11535" not in codes
    assert all(len(c) == 5 and c.isdigit() for c in codes)


def row(store: str, n: int, value: float) -> dict[str, object]:
    return {"store": store, "round": n, "ingest_resources_per_s": value}


def test_merging_appends_and_replaces_a_rerun_round() -> None:
    first = merged({}, row("a", 1, 1.0))
    second = merged(first, row("a", 2, 2.0))
    again = merged(merged(second, row("b", 1, 9.0)), row("a", 2, 3.0))
    assert [(r["store"], r["round"], r["ingest_resources_per_s"]) for r in again["rounds"]] == [
        ("a", 1, 1.0),
        ("a", 2, 3.0),
        ("b", 1, 9.0),
    ]


def test_append_round_keeps_earlier_runs_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "scale.json"
    append_round(row("a", 1, 1.0), path)
    append_round(row("b", 1, 5.0), path)
    rows = append_round(row("a", 2, 2.0), path)
    assert [r["round"] for r in rows] == [1, 2]
    table = round_table(rows)
    assert "ingest_resources_per_s" in table and "2.00" in table


def test_a_replay_after_the_target_joins_the_store_s_last_round(tmp_path: Path) -> None:
    path = tmp_path / "scale.json"
    append_round(row("a", 1, 1.0), path)
    append_round(row("a", 2, 2.0), path)
    append_round(row("b", 3, 5.0), path)
    rows = add_to_last_round("a", {"ops_replay_ingest_resources_per_s": 7.0}, path)
    assert [r.get("ops_replay_ingest_resources_per_s") for r in rows] == [None, 7.0]
    assert rows[1]["ingest_resources_per_s"] == 2.0


STATUS = "Name:\tpython\nVmPeak:\t  300000 kB\nVmRSS:\t   123456 kB\nThreads:\t4\n"


def test_rss_from_proc_status() -> None:
    assert rss_kib(STATUS) == 123456
    assert rss_kib("Name:\tkthreadd\nThreads:\t1\n") == 0


def test_parent_from_proc_stat_with_odd_command_names() -> None:
    assert parent_of("4242 (python) S 17 4242 4242 0 -1") == 17
    assert parent_of("4243 (a) b) (c) R 99 1 1 0") == 99


def test_rss_of_a_process_tree(tmp_path: Path) -> None:
    for pid, ppid, kib in ((10, 1, 1024), (11, 10, 2048), (12, 11, 1024), (13, 1, 4096)):
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "stat").write_text(f"{pid} (p {pid}) S {ppid} 0 0")
        (d / "status").write_text(f"VmRSS:\t{kib} kB\n")
    (tmp_path / "self").mkdir()
    assert tree_rss_mb(10, tmp_path) == 4.0
    assert tree_rss_mb(13, tmp_path) == 4.0
    assert tree_rss_mb(99, tmp_path) == 0.0
