"""The six services as real processes (``healthlink serve``), for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.settings import SERVICE_PORTS, Settings
from tests.support.settings import env_of

ROOT = Path(__file__).resolve().parents[2]


_HANDED: set[int] = set()  # every port free_port gave out in this test run


def free_port() -> int:
    """A free port no earlier call of this run gave out: the kernel may offer a port it
    just offered again (it is free until the service binds it), and two services given
    one port would answer for each other (CI once saw consent's requests answered 404 by
    another service of the same platform)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED:
            _HANDED.add(port)
            return port


@dataclass
class Platform:
    settings: Settings
    log_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self, service: str) -> dict[str, str]:
        """The settings' environment, and where auth finds its neighbours."""
        env = {**os.environ, **env_of(self.settings)}
        for other in SERVICE_PORTS:
            self.ports.setdefault(other, free_port())
        # query checks SMART tokens for its own FHIR base against auth's keys
        # (and every service an operator's token, shared/operators.py)
        env.update(
            HEALTHLINK_AUTH_ISSUER=self.url("auth"),
            HEALTHLINK_AUTH_AUDIENCE=self.url("query") + "/fhir",
            HEALTHLINK_QUERY_PUBLIC_URL=self.url("query"),
        )
        if service.split("-")[0] == "auth":
            env.update(
                HEALTHLINK_CONSENT_URL=self.url("consent"),
                HEALTHLINK_DATA_DIR=str(self.log_dir),
                # every patient of the journeys signs in from 127.0.0.1 (Actors.patient):
                # the per-address throttle of the code door would stop a benchmark
                HEALTHLINK_AUTH_THROTTLE_PER_ADDRESS="6000/minute",
                HEALTHLINK_AUTH_THROTTLE_GLOBAL="6000/minute",
                # the portal's SMART client (the physicians' viewer and the patient
                # portal), coming back to this portal
                HEALTHLINK_AUTH_PORTAL_REDIRECT_URIS=json.dumps(
                    [self.url("portal") + "/callback", self.url("portal") + "/patient/callback"]
                ),
            )
        if service.split("-")[0] == "portal":  # the web viewer reads through query
            env["HEALTHLINK_PORTAL_QUERY_URL"] = self.url("query")
            # signed in at auth (SMART); its client key where auth made it (the data dir)
            env["HEALTHLINK_PORTAL_REDIRECT_URI"] = self.url("portal") + "/callback"
            env["HEALTHLINK_PORTAL_PATIENT_REDIRECT_URI"] = self.url("portal") + "/patient/callback"
            env["HEALTHLINK_DATA_DIR"] = str(self.log_dir)
            # the patient portal's back ends, ingest for the hospital console, auth for
            # the operator view's status screen
            for other in ("consent", "audit", "notify", "ingest", "auth"):
                env[f"HEALTHLINK_PORTAL_{other.upper()}_URL"] = self.url(other)
        return env

    def start(self, service: str) -> None:
        for other in SERVICE_PORTS:  # a service may name its neighbours before they start
            self.ports.setdefault(other, free_port())
        port = self.ports.setdefault(service, free_port())
        env = self.env(service)
        log = (self.log_dir / f"{service}.log").open("ab")
        self.procs[service] = subprocess.Popen(
            [sys.executable, "-m", "healthlink", "serve", service, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, service: str, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc = self.procs[service]
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{service} exited with {proc.returncode}; see "
                    f"{self.log_dir / (service + '.log')}"
                )
            try:
                if httpx.get(self.url(service) + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{service} not ready after {timeout_s}s")

    def start_all(self, services: Iterable[str] = SERVICE_PORTS) -> None:
        """``services`` (default: all) started, then each waited for until ready."""
        chosen = list(services)
        for service in chosen:
            self.start(service)
        for service in chosen:
            self.wait_ready(service)

    def runs(self, service: str) -> bool:
        """Whether ``service`` was started here and has not exited."""
        proc = self.procs.get(service)
        return proc is not None and proc.poll() is None

    def kill(self, service: str) -> None:
        """SIGKILL: no graceful shutdown, no final commit."""
        proc = self.procs[service]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def stop(self, service: str) -> None:
        """SIGTERM and wait: a graceful stop (the consumer leaves its group)."""
        proc = self.procs[service]
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)

    def start_replica(self, service: str, replica: int) -> str:
        """Another instance of ``service`` (same consumer group); returns its name."""
        name = f"{service}-{replica}"
        port = self.ports.setdefault(name, free_port())
        env = self.env(service)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "healthlink", "serve", service, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return name


@contextmanager
def running_platform(
    settings: Settings, log_dir: Path, services: Iterable[str] = SERVICE_PORTS
) -> Iterator[Platform]:
    """The services (default: all) started and ready; stopped on exit."""
    running = Platform(settings, log_dir)
    try:
        running.start_all(services)
        yield running
    finally:
        running.stop_all()
