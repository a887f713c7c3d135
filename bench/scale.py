"""``make bench-scale``: grow one store in rounds toward millions of resources; measure each.

``python -m bench.scale [--resources N] [--patients N] [--rounds N] [--hospitals N]
[--max-rounds N]`` (defaults from ``HEALTHLINK_SCALE_RESOURCES`` = 5,000,000,
``HEALTHLINK_SCALE_PATIENTS`` = 50,000, ``HEALTHLINK_SCALE_ROUNDS`` = 10,
``HEALTHLINK_SCALE_HOSPITALS`` = 20, ``HEALTHLINK_SCALE_MAX_ROUNDS`` = no limit; the
store's topic and database prefix ``HEALTHLINK_SCALE_STORE`` = ``hlscale``).

The store is kept between runs: each round first counts what exists (records in
ingest's store, patients in consent's) and plans the next step toward the target from
there, so a later run resumes where an earlier one stopped; the run stops by itself
when the target is reached. Each round, on the real path:

1. registers new patients, verifies them and grants consent to every hospital through
   the consent API (``registration_consent_per_s``, a few requests in parallel);
2. publishes synthetic realistic bundles (50 resources each) for them through the Kafka
   adapter, from many hospitals, and times first publish -> last ``records.received``
   (``ingest_resources_per_s``; bodies are generated to a spool file first, untimed);
3. a new physician reads a new 1,000-record chart: ``everything``, ``summary`` and
   ``search`` (Observation by patient and category, newest first) p50/p99;
4. ``revoke_to_enforced`` and ``audit_lag`` p50/p99 (bench/consent.py, bench/audit.py);
   Meanwhile a patient of the round with nothing in its load (one upload stored just
   before) is read every 0.2 s, from the load's first publish until the charts caught up
   (``bystander_read_*``: the read barrier waits per patient, so they should be served);
5. ``by_key_read``: ``find_one`` by ``_id`` on ingest's record store, for ids of
   records stored in this round;
6. RSS (MB, from /proc) of each service's process tree and of Kafka, FerretDB and
   PostgreSQL (postmaster and its backends: shared buffers count once per process), and
   disk: PostgreSQL (the store's schemas) + Kafka (the store's topics' log dirs).

Each round is appended to ``bench/results/scale.json`` (``rounds``: one object per
store and round, a re-run round replaces its row) and the store's rounds so far are
printed as a table. docs/benchmarks-scale.md explains the figures and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from healthlink_adapter import KafkaUploader
from psycopg import sql

from bench import audit, consent, ingest, ops, query
from bench.env import BenchEnv, bench_env
from bench.stats import summarise
from healthlink.synthetic import THAI_HOSPITALS, make_patient_bundle
from shared.database import make_client
from shared.indexes.postgres import NotFerretDB, table_of
from shared.kafka_admin import hospital_connection
from shared.settings import Settings
from tests.support.credentials import keep_signing_keys
from tests.support.journey import OPERATOR, Hospital
from tests.support.settings import isolated_settings
from tests.support.stack import ROOT, Endpoints, _local_stack

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
BUNDLE = 50  # resources per upload
READER = ("11535", "Chulalongkorn Hospital")  # the physicians' hospital (a consumer)
CONCURRENCY = 8  # registrations in flight, publishes per gather
READ_SAMPLES = 50
REVOKES = 20
AUDIT_READS = 100
BY_KEY_SAMPLES = 200
SERVICES_ORDER = ("consent", "ingest", "query", "audit", "notify", "auth")
READY_S = 600.0  # services' start on a busy shared machine
Row = dict[str, Any]


@dataclass(frozen=True)
class Target:
    resources: int = 5_000_000
    patients: int = 50_000
    rounds: int = 10
    hospitals: int = 20


@dataclass(frozen=True)
class RoundPlan:
    number: int
    patients: int  # to register and consent this round
    uploads: int  # bundles of BUNDLE resources


def plan_round(target: Target, have_resources: int, have_patients: int) -> RoundPlan | None:
    """The next round toward ``target`` from what the store holds; None once reached.

    Steps are target / rounds; the round number follows from the store's size, so a
    resumed run (or one after a crash mid-round) carries on with the right round."""
    if have_resources >= target.resources:
        return None
    step_r = math.ceil(target.resources / target.rounds)
    step_p = math.ceil(target.patients / target.rounds)
    number = min(target.rounds, have_resources // step_r + 1)
    add_r = min(step_r, target.resources - have_resources)
    want_p = min(target.patients, step_p * number)
    add_p = max(1, min(step_p, want_p - have_patients))
    return RoundPlan(number, add_p, max(1, math.ceil(add_r / BUNDLE)))


def provider_codes(count: int) -> list[str]:
    """The real hospitals of the generator, then made-up 5-digit codes up to ``count``."""
    real = [code for code, _, _ in THAI_HOSPITALS if code != READER[0]]
    return (real + [f"{90001 + i}" for i in range(max(0, count - len(real)))])[: max(1, count)]


def merged(existing: Mapping[str, Any], row: Row) -> dict[str, Any]:
    """``existing`` results with ``row`` in: replacing the same store's same round."""
    key = (row["store"], row["round"])
    rows = [r for r in existing.get("rounds", []) if (r["store"], r["round"]) != key]
    rows.append(row)
    rows.sort(key=lambda r: (str(r["store"]), int(r["round"])))
    return {**existing, "rounds": rows}


def append_round(row: Row, path: Path = RESULTS) -> list[Row]:
    """Merge ``row`` into the results file; the store's rows so far."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(path.read_text()) if path.exists() else {}
    found = merged(existing, row)
    path.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
    return [r for r in found["rounds"] if r["store"] == row["store"]]


def add_to_last_round(store: str, figures: Mapping[str, float], path: Path = RESULTS) -> list[Row]:
    """``figures`` added to ``store``'s last round (a replay of a store already at its target)."""
    existing = json.loads(path.read_text())
    last = max((r for r in existing["rounds"] if r["store"] == store), key=lambda r: r["round"])
    return append_round({**last, **figures}, path)


def round_table(rows: Sequence[Row]) -> str:
    """One line per metric, one column per round."""
    names = sorted({k for r in rows for k, v in r.items() if isinstance(v, int | float)})
    names = [n for n in names if n != "round"]
    width = max((len(n) for n in names), default=10)
    head = f"{'round':<{width}}" + "".join(f"{r['round']:>12}" for r in rows)
    lines = [head, "-" * len(head)]
    for name in names:
        cells = "".join(
            f"{r[name]:>12,.2f}" if isinstance(r.get(name), float) else f"{r.get(name, ''):>12}"
            for r in rows
        )
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- /proc


def rss_kib(status: str) -> int:
    """``VmRSS`` of a /proc/<pid>/status text, in KiB (0 when absent: a kernel thread)."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def parent_of(stat: str) -> int:
    """The parent pid in a /proc/<pid>/stat text (the command may hold spaces and ')')."""
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def tree_rss_mb(pid: int, proc: Path = Path("/proc")) -> float:
    """RSS of ``pid`` and all its descendants, MB (0 when it is gone)."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(parent_of((entry / "stat").read_text()), []).append(
                    int(entry.name)
                )
            except (OSError, ValueError, IndexError):
                continue  # exited while we looked
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += rss_kib((proc / str(current) / "status").read_text())
        except OSError:
            continue
        todo += children.get(current, [])
    return round(total / 1024, 1)


def data_dir() -> Path:
    """Where deploy/local/infra.sh keeps its data (``HEALTHLINK_DATA_DIR``)."""
    return Path(os.environ.get("HEALTHLINK_DATA_DIR") or ROOT / ".data")


def pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def infra_pids(pg: psycopg.Connection[Any]) -> dict[str, int]:
    """Kafka and FerretDB from infra.sh's pid files; PostgreSQL: our backend's parent."""
    found = {
        name: pid
        for name in ("kafka", "ferretdb")
        if (pid := pid_in(data_dir() / "run" / f"{name}.pid")) is not None
    }
    row = pg.execute("SELECT pg_backend_pid()").fetchone()
    if row is not None:
        with suppress(OSError):  # PostgreSQL on another host
            found["postgres"] = parent_of(Path(f"/proc/{row[0]}/stat").read_text())
    return found


def dir_bytes(path: Path) -> int:
    """Bytes allocated on disk (Kafka preallocates its sparse 10 MB index files)."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


def kafka_bytes(topic_prefix: str, log_dir: Path | None = None) -> int:
    """Bytes in the log dirs of the store's topics (``<topic>-<partition>``)."""
    root = log_dir or data_dir() / "kafka" / "data"
    if not root.is_dir():
        return 0
    return sum(dir_bytes(d) for d in root.iterdir() if d.name.startswith(topic_prefix))


def pg_bytes(pg: psycopg.Connection[Any], db_prefix: str) -> int:
    """Tables, TOAST and indexes in the schemas FerretDB made for the store's databases."""
    row = pg.execute(
        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind = 'r' AND n.nspname LIKE %s",
        (db_prefix.replace("_", "\\_") + "\\_%",),
    ).fetchone()
    return int(row[0]) if row else 0


# --------------------------------------------------------------------------- a round


async def counts(env: BenchEnv) -> tuple[int, int]:
    """Records in ingest's store, patients in consent's: counted by PostgreSQL on FerretDB's
    tables (``count_documents`` would make FerretDB 1.24 read the whole collection into
    its own memory: 12 s and 5 GB of RSS at 500 k records)."""
    settings = env.settings
    async with await psycopg.AsyncConnection.connect(settings.pg_dsn, autocommit=True) as pg:
        records = await count_of(pg, settings.db_name("ingest"), "records")
        return records, await count_of(pg, settings.db_name("consent"), "patients")


async def count_of_records(env: BenchEnv) -> int:
    return (await counts(env))[0]


async def count_of(pg: psycopg.AsyncConnection[tuple[object, ...]], db: str, coll: str) -> int:
    try:
        table = await table_of(pg, db, coll)
    except (NotFerretDB, psycopg.errors.UndefinedTable):
        return 0  # not created yet
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(db), sql.Identifier(table))
    row = await (await pg.execute(query)).fetchone()
    return int(str(row[0])) if row else 0


def spool(rng: random.Random, plan: RoundPlan, cids: list[str], codes: list[str], to: Path) -> None:
    """The round's uploads, one line each: hospital, CID, body (tab-separated)."""
    with to.open("wb") as out:
        for j in range(plan.uploads):
            cid, code = cids[j % len(cids)], rng.choice(codes)
            bundle = make_patient_bundle(rng, cid=cid, hospital_code=code, n_resources=BUNDLE)
            body = json.dumps(bundle, ensure_ascii=False).encode()
            out.write(code.encode() + b"\t" + cid.encode() + b"\t" + body + b"\n")


def spooled(path: Path) -> Iterator[tuple[str, str, bytes]]:
    with path.open("rb") as lines:
        for line in lines:
            code, cid, body = line.rstrip(b"\n").split(b"\t", 2)
            yield code.decode(), cid.decode(), body


async def publish(
    env: BenchEnv, hospitals: dict[str, Hospital], path: Path, uploads: int
) -> dict[str, float]:
    """Every spooled upload through the Kafka adapter; resources/s to the last stored."""
    settings = env.settings
    ids: list[str] = []
    async with AsyncExitStack() as stack:
        arrivals = await stack.enter_async_context(ingest.watching(env))
        uploaders = {
            code: await stack.enter_async_context(
                KafkaUploader(
                    await hospital_connection(settings, code),
                    code,
                    h.signer,
                    settings.topic_prefix,
                )
            )
            for code, h in hospitals.items()
        }
        start = time.perf_counter()
        chunk: list[tuple[str, str, bytes]] = []
        for item in spooled(path):
            chunk.append(item)
            if len(chunk) >= CONCURRENCY * 8:
                ids += await send_chunk(uploaders, chunk)
                chunk = []
        ids += await send_chunk(uploaders, chunk)
        try:
            await arrivals.wait_for(ids, timeout_s=120.0 + uploads / 5)
        except AssertionError:
            print(f"[bench.scale] {len(ids) - len(arrivals.seen)} uploads not stored", flush=True)
    seen = [arrivals.seen[i] for i in ids if i in arrivals.seen]
    end = max((at for at, _ in seen), default=time.perf_counter())
    resources = sum(n for _, n in seen)
    return {
        "ingest_resources_per_s": round(resources / (end - start), 1),
        "ingest_uploads_missing": float(len(ids) - len(seen)),
    }


async def send_chunk(
    uploaders: dict[str, KafkaUploader], chunk: list[tuple[str, str, bytes]]
) -> list[str]:
    ids = [f"scale-{uuid.uuid4()}" for _ in chunk]
    await asyncio.gather(
        *(
            uploaders[code].send_bytes(body, cid, upload_id=i)
            for i, (code, cid, body) in zip(ids, chunk, strict=True)
        )
    )
    return ids


async def upload_one(
    env: BenchEnv, rng: random.Random, hospitals: dict[str, Hospital], cid: str, path: Path
) -> None:
    """One bundle for ``cid``, stored before the round's load."""
    spool(rng, RoundPlan(0, 1, 1), [cid], list(hospitals), path)
    await publish(env, hospitals, path, 1)
    await asyncio.to_thread(path.unlink)


@asynccontextmanager
async def reading(
    env: BenchEnv, doctor: str, cid: str, every_s: float = 0.2
) -> AsyncIterator[dict[str, float]]:
    """``$everything`` of ``cid`` (a patient with nothing in the load) every ``every_s``
    while the block runs (the load stored, then query's charts catching up): the read
    barrier waits per patient, so these should be served at once. Fills the dict on exit:
    ``bystander_read_p50_ms`` / ``_p99_ms`` / ``_max_ms``, reads, and reads not 200."""
    found: dict[str, float] = {}
    samples: list[float] = []
    refused = 0

    async def loop() -> None:
        nonlocal refused
        while True:
            start = time.perf_counter()
            r = await env.actors.everything(doctor, cid)
            samples.append((time.perf_counter() - start) * 1000)
            refused += r.status_code != 200
            await asyncio.sleep(every_s)

    task = asyncio.create_task(loop())
    try:
        yield found
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
    if samples:
        found.update(summarise("bystander_read", samples))
        found["bystander_read_max_ms"] = round(max(samples), 2)
    found["bystander_reads"] = float(len(samples))
    found["bystander_reads_not_200"] = float(refused)


async def by_key(env: BenchEnv, keys: list[str]) -> dict[str, float]:
    """``find_one`` by ``_id`` on ingest's record store, one key after another."""
    client = make_client(env.settings)
    try:
        records = client[env.settings.db_name("ingest")].records
        samples = []
        for key in keys:
            start = time.perf_counter()
            found = await records.find_one({"_id": key})
            samples.append((time.perf_counter() - start) * 1000)
            assert found is not None, key
    finally:
        await client.close()
    return summarise("by_key_read", samples[5:])  # the first few open connections


def sample_keys(rng: random.Random, path: Path, uploads: int, n: int) -> list[str]:
    """``n`` record ids from uploads spread over the round's spool."""
    chosen = set(rng.sample(range(uploads), min(uploads, 20)))
    keys = [
        key
        for j, (code, _, body) in enumerate(spooled(path))
        if j in chosen
        for key in ingest.record_ids(body, code)
    ]
    return rng.sample(keys, min(n, len(keys)))


def footprint(env: BenchEnv, resources: int) -> dict[str, float]:
    """RSS per process tree (MB) and disk per million resources (MB)."""
    settings = env.settings
    out: dict[str, float] = {}
    for service in SERVICES_ORDER:
        proc = env.platform.procs.get(service)
        if proc is not None:
            out[f"rss_mb_{service}"] = tree_rss_mb(proc.pid)
    with psycopg.connect(settings.pg_dsn, autocommit=True) as pg:
        for name, pid in infra_pids(pg).items():
            out[f"rss_mb_{name}"] = tree_rss_mb(pid)
        pg_b = pg_bytes(pg, settings.db_prefix)
    kafka_b = kafka_bytes(settings.topic_prefix)
    millions = max(resources, 1) / 1e6
    out["disk_pg_mb"] = round(pg_b / 2**20, 1)
    out["disk_kafka_mb"] = round(kafka_b / 2**20, 1)
    out["disk_mb_per_million_resources"] = round((pg_b + kafka_b) / 2**20 / millions, 1)
    return out


async def one_round(
    env: BenchEnv, plan: RoundPlan, hospitals: dict[str, Hospital], reader: Hospital, work: Path
) -> dict[str, float]:
    settings, actors = env.settings, env.actors
    rng = random.Random(f"{settings.db_prefix}-{plan.number}-{time.time_ns()}")
    codes = list(hospitals)
    out: dict[str, float] = {}
    cids, figures = await consent.registration_consent(env, rng, codes, plan.patients, CONCURRENCY)
    out.update(figures)
    rate = figures["registration_consent_per_s"]
    print(f"[bench.scale] {plan.patients} patients at {rate:.1f}/s; spooling", flush=True)

    def sign_in() -> Awaitable[str]:  # a new physician (licence from the clock)
        return actors.physician(reader, f"{time.time_ns() // 10**6 % 10**8:08d}")

    bystander, cids = cids[0], cids[1:] or cids  # nothing of theirs in the round's load
    await upload_one(env, rng, hospitals, bystander, work / "bystander.spool")
    watcher = await sign_in()
    await actors.records(watcher, bystander)
    path = work / f"round-{plan.number}.spool"
    spool(rng, plan, cids, codes, path)
    print(f"[bench.scale] publishing {plan.uploads} uploads", flush=True)
    async with reading(env, watcher, bystander) as reads:
        out.update(await publish(env, hospitals, path, plan.uploads))
        sample = rng.sample(cids, min(48, len(cids)))
        out.update(await query.charts_caught_up(env, sign_in, sample))
    out.update(reads)
    doctor = await sign_in()  # a fresh token for the measurements
    chart = await query.large_chart(env, rng, doctor)
    urls = {"everything": chart.everything_url, "summary": chart.summary_url}
    out.update(
        await query.latencies(env, doctor, {**urls, "search": chart.search_url}, READ_SAMPLES)
    )
    out.update(await consent.revoke_to_enforced(env, rng, doctor, codes[0], REVOKES, 2))
    await actors.records(doctor, cids[0])
    out.update(await audit.audit_lag(env, doctor, cids[0], AUDIT_READS))
    out.update(await by_key(env, sample_keys(rng, path, plan.uploads, BY_KEY_SAMPLES + 5)))
    listed = actors.url("ingest", "/admin/deadletters")
    # The first page starts the service's kept reader (a Kafka connection and SASL
    # handshake, ~125 ms: shared/deadletter_reader.py); it was the rounds' p99 of 50.
    [first] = await ops.timed_get(env, listed, OPERATOR, 1)
    out["deadletters_list_first_ms"] = round(first, 2)
    out.update(
        summarise("deadletters_list", await ops.timed_get(env, listed, OPERATOR, READ_SAMPLES))
    )
    await asyncio.to_thread(path.unlink)
    return out


def target_from(argv: Sequence[str] | None, environ: Mapping[str, str]) -> tuple[Target, int, bool]:
    """The target, the most rounds this run may do (0: no limit), replay after the last."""

    def env_int(name: str, default: int) -> int:
        return int(environ.get(f"HEALTHLINK_SCALE_{name}", default))

    default = Target()
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--resources", type=int, default=env_int("RESOURCES", default.resources))
    parser.add_argument("--patients", type=int, default=env_int("PATIENTS", default.patients))
    parser.add_argument("--rounds", type=int, default=env_int("ROUNDS", default.rounds))
    parser.add_argument("--hospitals", type=int, default=env_int("HOSPITALS", default.hospitals))
    parser.add_argument("--max-rounds", type=int, default=env_int("MAX_ROUNDS", 0))
    parser.add_argument(
        "--replay", action="store_true", default=environ.get("HEALTHLINK_SCALE_REPLAY") == "1"
    )
    args = parser.parse_args(argv)
    target = Target(args.resources, args.patients, max(1, args.rounds), args.hospitals)
    return target, args.max_rounds, args.replay


async def main(argv: Sequence[str] | None = None) -> None:
    target, max_rounds, replay = target_from(argv, os.environ)
    store = os.environ.get("HEALTHLINK_SCALE_STORE", "hlscale")
    endpoints = _local_stack()
    settings = isolated_settings(endpoints, topic_prefix=f"{store}.", db_prefix=store)
    with tempfile.TemporaryDirectory(prefix="healthlink-scale-") as tmp:
        await grow(endpoints, settings, store, target, max_rounds, replay, Path(tmp))


async def grow(
    endpoints: Endpoints,
    settings: Settings,
    store: str,
    target: Target,
    max_rounds: int,
    replay: bool,
    work: Path,
) -> None:
    """Rounds until the target is reached (or ``max_rounds`` of them, when not 0)."""
    keep_signing_keys(data_dir() / f"{store}-hospital-keys.json")  # for the next run
    async with bench_env(endpoints, settings, keep=True, ready_s=READY_S) as env:
        hospitals = {
            code: await env.actors.hospital(code, f"Hospital {code}")
            for code in provider_codes(target.hospitals)
        }
        reader = await env.actors.hospital(*READER, role="consumer")
        done = 0
        while not max_rounds or done < max_rounds:
            have_r, have_p = await counts(env)
            plan = plan_round(target, have_r, have_p)
            if plan is None:
                print(f"[bench.scale] target reached: {have_r:,} resources, {have_p:,} patients")
                if replay and not done:  # reached by an earlier run: replay the store as it is
                    records = partial(count_of_records, env)
                    figures = await ops.replay_ingest(env, READY_S, records)
                    print(round_table(add_to_last_round(store, figures)), flush=True)
                break
            print(f"[bench.scale] round {plan.number}: {have_r:,} resources, {plan}", flush=True)
            began = time.perf_counter()
            figures = await one_round(env, plan, hospitals, reader, work)
            after_r, after_p = await counts(env)
            if replay and plan_round(target, after_r, after_p) is None:
                records = partial(count_of_records, env)
                figures.update(await ops.replay_ingest(env, READY_S, records))  # the last round
            row: Row = {
                "store": store,
                "round": plan.number,
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "resources": after_r,
                "patients": after_p,
                "round_s": round(time.perf_counter() - began, 1),
                **figures,
                **footprint(env, after_r),
            }
            print(round_table(append_round(row)), flush=True)
            done += 1


def stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # SIGTERM: stop the services on the way out


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)
    asyncio.run(main())
