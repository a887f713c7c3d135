"""Thai national identification number (CID) helpers."""

from __future__ import annotations

import random

from healthlink_adapter.contract import CID_SYSTEM as CID_SYSTEM
from healthlink_adapter.contract import HCODE_SYSTEM as HCODE_SYSTEM

_DIGITS = frozenset("0123456789")


def cid_check_digit(first12: str) -> int:
    """Return the check digit for the first 12 digits of a CID."""
    if len(first12) != 12 or not _DIGITS.issuperset(first12):
        raise ValueError("expected exactly 12 ASCII digits")
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return (11 - total % 11) % 10


def is_valid_cid(cid: str) -> bool:
    """True for 13 ASCII digits, first digit not 0, with a correct check digit."""
    if not isinstance(cid, str) or len(cid) != 13 or not _DIGITS.issuperset(cid):
        return False
    if cid[0] == "0":
        return False
    return cid_check_digit(cid[:12]) == int(cid[12])


def random_cid(rng: random.Random) -> str:
    """Return a random valid CID drawn from ``rng``."""
    first12 = str(rng.randint(1, 8)) + "".join(str(rng.randint(0, 9)) for _ in range(11))
    return first12 + str(cid_check_digit(first12))
