"""The front door tells the truth (issue 16, item 7).

A second stack runs from this checkout beside the suite's own: its own data dir, its
own infrastructure ports (Kafka, FerretDB, PostgreSQL) and service ports, started and
stopped with the same ``make`` targets and scripts a developer uses. On it:

- ``make up`` refuses a service port held by a process it did not start, and names it
  (before starting anything);
- a SIGKILLed service leaves none of its processes behind (ingest's validation worker,
  query's chart projector, their resource trackers);
- with the broker stopped, every service ends within 10 s of SIGTERM, a request
  waiting on the broker included;
- ``make up`` then ``make down``: nothing listens on any of the stack's ports after.

The tests share the stack, in this order to start as little as possible (each one
also works alone): the infrastructure started cold by the second stays up, and the
last one's ``make up`` only restarts the broker the third one stopped.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shared.cid import random_cid
from shared.settings import SERVICE_PORTS
from tests.support.procs import alive, cmdline, descendants, free_ports, listening

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "local"
KEEP = ("HEALTHLINK_TOOLS_DIR", "HEALTHLINK_PG_BIN")  # the tool cache is shared on purpose
EXIT_AFTER_SIGTERM_S = 10.0
CHILDREN_GONE_S = 5.0  # children end within about a second of their service
# A stale service answering /readyz with 200, like the ones make down used to leave.
STALE = """
import http.server, sys
class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"status": "ready"}')
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ready).serve_forever()
"""


@dataclass
class Stack:
    env: dict[str, str]
    data: Path
    ports: dict[str, int]

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=600
        )
        if check and done.returncode != 0:
            said = done.stdout + done.stderr
            pytest.fail(f"{' '.join(command)} exited {done.returncode}:\n{said}")
        return done

    def make(self, target: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("make", "--no-print-directory", target, check=check)

    def script(self, name: str, command: str) -> subprocess.CompletedProcess[str]:
        return self.run("bash", str(SCRIPTS / name), command)

    def services_up(self) -> None:
        """Infrastructure (unless it already runs: its readiness probe costs a JVM) and
        the services that are not running."""
        if self.run("bash", str(SCRIPTS / "infra.sh"), "status", check=False).returncode:
            self.script("infra.sh", "up")
        self.script("services.sh", "up")

    def pid(self, name: str) -> int:
        return int((self.data / "run" / f"{name}.pid").read_text())

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = free_ports(len(SERVICE_PORTS) + 6)
    ports = {service: base + i for i, service in enumerate(SERVICE_PORTS)}
    n = len(SERVICE_PORTS)
    ports |= {
        "kafka": base + n,
        "kafka-controller": base + n + 1,
        "kafka-hospitals": base + n + 2,  # infra.sh: the SASL_SSL listener on Kafka's + 2
        "ferretdb": base + n + 3,
        "ferretdb-debug": base + n + 4,
        "postgres": base + n + 5,
    }
    data = tmp_path_factory.mktemp("frontdoor") / "data"
    ours = ("HEALTHLINK_", "MAKE", "MFLAGS")  # the suite's stack, an outer make's flags
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env |= {k: os.environ[k] for k in KEEP if k in os.environ}
    env |= {
        "HEALTHLINK_DATA_DIR": str(data),
        "HEALTHLINK_SERVICE_PORT_BASE": str(base),
        "HEALTHLINK_KAFKA_PORT": str(ports["kafka"]),
        "HEALTHLINK_MONGO_PORT": str(ports["ferretdb"]),
        "HEALTHLINK_FERRETDB_DEBUG_PORT": str(ports["ferretdb-debug"]),
        "HEALTHLINK_PG_PORT": str(ports["postgres"]),
        # One validation worker is enough to see it go, and saves a core-second a start.
        "HEALTHLINK_VALIDATION_PROCESSES": "1",
    }
    second = Stack(env, data, ports)
    try:
        yield second
    finally:
        second.make("down", check=False)
        second.run("bash", str(SCRIPTS / "infra.sh"), "wipe", check=False)


def wait_until_gone(pids: list[int], timeout_s: float) -> list[int]:
    """The pids of ``pids`` still running after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def test_make_up_refuses_a_service_port_held_by_another_process(
    stack: Stack, tmp_path: Path
) -> None:
    port = stack.ports["query"]
    stale = subprocess.Popen([sys.executable, "-c", STALE, str(port)], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not listening(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(f"{stack.url('query')}/readyz").status_code == 200

        done = stack.make("up", check=False)

        said = done.stdout + done.stderr
        assert done.returncode != 0, said
        assert f"127.0.0.1:{port}" in said and f"pid {stale.pid}" in said, said
        assert str(tmp_path) in said, said  # where the intruder runs from
        assert "ready on" not in said, said
        others = [p for name, p in stack.ports.items() if name != "query"]
        assert not [p for p in others if listening(p)], "make up started something"
    finally:
        stale.kill()
        stale.wait()


def test_no_process_outlives_a_sigkilled_service(stack: Stack) -> None:
    stack.services_up()
    services = {s: stack.pid(f"service-{s}") for s in ("ingest", "query")}
    left_behind = {s: descendants(pid) for s, pid in services.items()}
    commands = [cmdline(p) for pids in left_behind.values() for p in pids]
    assert sum("multiprocessing.spawn" in c for c in commands) == 2, commands  # worker, projector
    assert sum("resource_tracker" in c for c in commands) == 2, commands

    for pid in services.values():
        os.kill(pid, signal.SIGKILL)

    for service, pids in left_behind.items():
        left = wait_until_gone(pids, CHILDREN_GONE_S)
        assert not left, f"{service}: {[cmdline(p) for p in left]} outlived it"


def test_every_service_exits_soon_after_sigterm_with_its_broker_gone(stack: Stack) -> None:
    stack.services_up()
    services = {s: stack.pid(f"service-{s}") for s in SERVICE_PORTS}
    kafka = stack.pid("kafka")
    os.kill(kafka, signal.SIGKILL)  # the broker is gone, as when its machine dies
    assert not wait_until_gone([kafka], 10), "the broker did not stop"

    def register_patient() -> None:  # registering a patient publishes an event
        with contextlib.suppress(httpx.HTTPError):  # the service ends while it waits
            httpx.post(
                f"{stack.url('consent')}/patients",
                json={"cid": random_cid(random.Random()), "birth_date": "1980-01-01"},
                timeout=60,
            )

    waiting = threading.Thread(target=register_patient, daemon=True)
    waiting.start()  # a request in flight, waiting on the broker
    time.sleep(0.5)

    started = time.monotonic()
    for pid in services.values():
        os.kill(pid, signal.SIGTERM)
    took: dict[str, float] = {}
    while len(took) < len(services) and time.monotonic() - started < 30:
        for service, pid in services.items():
            if service not in took and not alive(pid):
                took[service] = round(time.monotonic() - started, 1)
        time.sleep(0.05)
    print(f"seconds from SIGTERM to exit, broker gone: {took}")  # shown with -rP
    slow = [s for s in services if took.get(s, float("inf")) > EXIT_AFTER_SIGTERM_S]
    assert not slow, f"not ended within {EXIT_AFTER_SIGTERM_S}s of SIGTERM: {slow} ({took})"


def test_make_down_stops_everything_make_up_started(stack: Stack) -> None:
    up = stack.make("up")
    for service in SERVICE_PORTS:  # the demo's URLs are this stack's
        assert f"{service:<8} {stack.url(service)} " in up.stdout, up.stdout

    status = stack.make("status").stdout
    lines = {line.split()[0]: line for line in status.splitlines() if line[:1].isalpha()}
    for name in [*SERVICE_PORTS, "kafka", "ferretdb", "postgres"]:
        assert " up " in lines[name] and " pid " in lines[name], status
    for name in [*SERVICE_PORTS, "kafka", "ferretdb"]:  # postgres runs in its data dir
        assert f"from {ROOT} " in lines[name], status
    started = [stack.pid(f"service-{s}") for s in SERVICE_PORTS]
    started += [stack.pid("kafka"), stack.pid("ferretdb")]
    started += [p for pid in started for p in descendants(pid)]

    stack.make("down")

    still = {name: port for name, port in stack.ports.items() if listening(port)}
    assert not still, f"still listening after make down: {still}"
    assert not [p for p in started if alive(p)]
