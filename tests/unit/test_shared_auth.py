"""``shared/auth.py``: SMART v2 scopes (and the v1 aliases) and the token verifier's
key handling: an unknown ``kid`` fetches the issuer's keys again, at most once per
interval; anything malformed is ``Unauthorized``, never another error."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.auth.keys import SigningKeys, new_key
from shared.auth import Principal, TokenVerifier, bearer_token, covered, parse_scope, parse_scopes
from shared.errors import Transient, Unauthorized

pytestmark = pytest.mark.unit
ISS, AUD = "http://auth.test", "http://fhir.test/fhir"


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISS,
        "aud": AUD,
        "exp": now + 300,
        "iat": now,
        "jti": "j1",
        "sub": "s",
        "client_id": "c",
        "scope": "patient/Observation.rs",
        **extra,
    }


def test_v2_scopes_and_v1_aliases() -> None:
    scope = parse_scope("patient/Observation.rs")
    assert scope is not None and scope.grants("Observation", "s")
    assert not scope.grants("Observation", "c") and not scope.grants("Condition", "r")
    assert parse_scope("user/*.read") == parse_scope("user/*.rs")
    assert parse_scope("system/*.*") == parse_scope("system/*.cruds")
    for other in ("openid", "launch/patient", "patient/Observation.sr", "patient/obs.r", "x/y.r"):
        assert parse_scope(other) is None, other
    constrained = parse_scope("patient/Observation.rs?category=laboratory")
    assert constrained is not None and not constrained.grants("Observation", "r")
    allowed = parse_scopes("user/*.rs patient/*.rs")
    wanted = parse_scope("user/Observation.r")
    assert wanted is not None and covered(wanted, allowed)
    write = parse_scope("user/Observation.c")
    assert write is not None and not covered(write, allowed)


def test_a_principal_allows_what_its_scopes_say_in_their_contexts() -> None:
    who = Principal.from_claims(claims(scope="patient/*.rs openid", patient="1"))
    assert who.may("Condition", "r") and who.may("Condition", "r", ("patient",))
    assert not who.may("Condition", "r", ("user", "system"))
    with pytest.raises(Unauthorized):
        Principal.from_claims(claims(roles="operator"))


@pytest.mark.parametrize(
    "header", [None, "", "Basic abc", "Bearer ", "Bearer é", "Bearer " + "a" * 9000]
)
def test_bad_authorization_headers(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


async def test_an_unknown_key_is_fetched_again_but_not_on_every_request() -> None:
    old = SigningKeys([new_key()])
    rotated = SigningKeys([new_key(), *old.keys])
    served = [old.public_jwks()]
    fetched: list[str] = []

    async def fetch(url: str) -> dict[str, Any]:
        fetched.append(url)
        return served[-1]

    verifier = TokenVerifier(
        issuer=ISS,
        audience=AUD,
        jwks_url="http://auth.test/jwks",
        fetch=fetch,
        refetch_interval_s=3600,
    )
    assert (await verifier.verify(old.sign(claims(), "at+jwt"))).subject == "s"
    served.append(rotated.public_jwks())
    fresh = rotated.sign(claims(), "at+jwt")
    with pytest.raises(Unauthorized):
        await verifier.verify(fresh)  # the interval since the first fetch has not passed
    assert len(fetched) == 1
    quick = TokenVerifier(
        issuer=ISS,
        audience=AUD,
        jwks_url="http://auth.test/jwks",
        fetch=fetch,
        refetch_interval_s=0,
    )
    assert (await quick.verify(fresh)).subject == "s"
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await verifier.verify(SigningKeys([new_key()]).sign(claims(), "at+jwt"))
    assert len(fetched) == 2


async def test_no_keys_at_all_is_transient() -> None:
    async def down(url: str) -> dict[str, Any]:
        raise ValueError("unreachable")

    verifier = TokenVerifier(issuer=ISS, audience=AUD, jwks_url="http://x", fetch=down)
    with pytest.raises(Transient):
        await verifier.verify(SigningKeys([new_key()]).sign(claims(), "at+jwt"))


async def test_only_signed_access_tokens_are_accepted() -> None:
    keys = SigningKeys([new_key()])
    verifier = TokenVerifier(issuer=ISS, audience=AUD, jwks=keys.public_jwks())
    id_token = keys.sign(claims(), "JWT")
    unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.e30."  # alg none
    missing = keys.sign({k: v for k, v in claims().items() if k != "jti"}, "at+jwt")
    for token in (id_token, unsigned, missing, "a.b.c", "\x00", "ü.ü.ü"):
        with pytest.raises(Unauthorized):
            await verifier.verify(token)
