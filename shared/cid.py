"""Thai national identification number (CID) helpers.

What a valid CID is belongs to the hospital wire contract (a bundle's Patient and a
data request carry one), so the rule lives in ``healthlink_adapter.contract``.
"""

from __future__ import annotations

import random

from healthlink_adapter.contract import CID_SYSTEM as CID_SYSTEM
from healthlink_adapter.contract import HCODE_SYSTEM as HCODE_SYSTEM
from healthlink_adapter.contract import cid_check_digit as cid_check_digit
from healthlink_adapter.contract import is_valid_cid as is_valid_cid


def random_cid(rng: random.Random) -> str:
    """Return a random valid CID drawn from ``rng``."""
    first12 = str(rng.randint(1, 8)) + "".join(str(rng.randint(0, 9)) for _ in range(11))
    return first12 + str(cid_check_digit(first12))
