"""Hospitals' credentials for tests: an admin key and a signing key pair per hospital code.

Unit tests put the admin key's hash and the public key into the hospital states their
fakes hold (``credentialed``) and sign uploads with ``signer``; the keys are made once
per test session (an admin key from the code, so a failure message can name it).
"""

from __future__ import annotations

import json
import secrets
from functools import cache
from pathlib import Path
from typing import Any

from healthlink_adapter.signing import JwsSigner, new_key, public_jwk
from joserfc.jwk import ECKey

from shared.coverage import HospitalState, Role, SigningKey
from shared.events import HospitalRegistered
from shared.hospital_auth import digest
from shared.projections import ConsentProjection
from tests.support.events import envelope


def admin_key(code: str) -> str:
    """The test admin key of hospital ``code``."""
    return f"test-admin-key-{code}-0123456789abcdef"


KEPT: list[Path] = []  # keep_signing_keys: where keys outlive the process


def keep_signing_keys(path: Path) -> None:
    """From now on hospitals' signing keys are kept in ``path`` (private JWKs by code):
    bench-scale's store outlives its runs, and a kid is registered with one key only.
    A kept key's kid is new (``CODE-kept-XXXXXX``), beside any key of an earlier run."""
    KEPT[:] = [path]
    signing_key.cache_clear()


@cache
def signing_key(code: str) -> ECKey:
    """Hospital ``code``'s private signing key (one per session, or kept: above)."""
    if not KEPT:
        return new_key(f"{code}-test-1")
    path = KEPT[0]
    kept: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if code in kept:
        return ECKey.import_key(kept[code])
    key = new_key(f"{code}-kept-{secrets.token_hex(3)}")
    kept[code] = key.as_dict(private=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(kept))
    path.chmod(0o600)
    return key


def signer(code: str) -> JwsSigner:
    return JwsSigner(signing_key(code))


def public_key(code: str) -> dict[str, Any]:
    return public_jwk(signing_key(code))


def credentialed(state: HospitalState) -> HospitalState:
    """``state`` with its test admin key's hash and its public signing key."""
    return state.model_copy(
        update={
            "admin_key_sha256": digest(admin_key(state.code)),
            "signing_keys": (SigningKey.model_validate(public_key(state.code)),),
        }
    )


def credentials_of(code: str) -> dict[str, Any]:
    """The credential fields of a hospital state as JSON (for states built as dicts)."""
    return {"admin_key_sha256": digest(admin_key(code)), "signing_keys": [public_key(code)]}


async def know(view: ConsentProjection, *codes: str, role: Role = "provider") -> None:
    """``view`` holds each hospital, credentialed (version 1, as a registration)."""
    for code in codes:
        state = credentialed(HospitalState(code=code, name=f"H{code}", role=role))
        await view.on_hospital_event(envelope(HospitalRegistered(version=1, state=state), code))


def private_jwk(code: str) -> dict[str, Any]:
    """Hospital ``code``'s private key as a JWK (what must never be pasted as a public one)."""
    key = signing_key(code)
    return key.as_dict(private=True) | {"kid": key.kid}
