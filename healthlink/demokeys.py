"""The demo's hospitals joined with their credentials, again and again (``healthlink demo``).

Each joins (the same request again changes nothing); a provider's private signing key
is kept in the data dir (``<data dir>/hospitals/<code>.jwk``, made once) and its public
half registered (the same key again changes nothing). The reading hospital's admin key
is shown once, on the first run; a later run rotates it, as only its hash is kept. The
demo patient's token comes from the auth service's wallet sign-in (``patient_token``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
from healthlink_adapter import public_jwk

from healthlink.hospitalkeys import key_path, load_or_make


async def join(
    http: httpx.AsyncClient,
    consent_url: str,
    operator: dict[str, str],
    hospitals: dict[str, tuple[str, str]],
    reader: str,
    data_dir: Path,
) -> str:
    """Every hospital of ``hospitals`` (code: name, role) joined; ``reader``'s admin key."""
    admin_key = ""
    for code, (name, role) in hospitals.items():
        body = {"code": code, "name": name, "role": role}
        r = await http.post(f"{consent_url}/hospitals", headers=operator, json=body)
        if r.status_code != 409:  # 409: registered otherwise by an earlier run
            r.raise_for_status()
        if code == reader:
            made = r.json().get("admin_key") if r.status_code == 201 else None
            admin_key = made or await rotate(http, consent_url, operator, code)
        if role == "provider":
            public = public_jwk(load_or_make(key_path(data_dir, code)))
            path = f"{consent_url}/hospitals/{code}/signing-keys"
            (await http.post(path, headers=operator, json=public)).raise_for_status()
    return admin_key


async def rotate(
    http: httpx.AsyncClient, consent_url: str, operator: dict[str, str], code: str
) -> str:
    """A new admin key for ``code`` (an earlier run's was shown once)."""
    r = await http.post(f"{consent_url}/hospitals/{code}/admin-key", headers=operator)
    r.raise_for_status()
    return str(r.json()["admin_key"])


def patient_args(cid: str, scan: str, urls: dict[str, str]) -> list[str]:
    """``healthlink auth patient-token`` for a patient (the wallet's sign-in)."""
    return [
        sys.executable, "-m", "healthlink", "auth", "patient-token", "--cid", cid,
        "--scan", scan, "--url", urls["auth"], "--audience", f"{urls['query']}/fhir",
    ]  # fmt: skip


def patient_token(cid: str, scan: str, urls: dict[str, str], data_dir: Path) -> str:
    """A patient's token through the wallet's sign-in at the auth service (consent
    verifies the scan for auth only and issues no tokens)."""
    env = {**os.environ, "HEALTHLINK_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        patient_args(cid, scan, urls), capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def patient_command(cid: str, scan: str, urls: dict[str, str], data_dir: Path) -> str:
    """The shell line that sets ``PTOKEN`` (the kept token is reused while valid)."""
    return (
        f"PTOKEN=$(HEALTHLINK_DATA_DIR={shlex.quote(str(data_dir))} "
        f"{shlex.join(patient_args(cid, scan, urls))})"
    )
