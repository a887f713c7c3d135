"""Thai CID check digit and validation."""

import random

import pytest

from shared.cid import CID_SYSTEM, HCODE_SYSTEM, cid_check_digit, is_valid_cid, random_cid


def test_check_digit_computed_by_hand() -> None:
    # 1101700230708: weights 13..2 over 1,1,0,1,7,0,0,2,3,0,7,0
    # = 13+12+0+10+63+0+0+12+15+0+21+0 = 146; 146 % 11 = 3; (11 - 3) % 10 = 8
    assert cid_check_digit("110170023070") == 8
    assert is_valid_cid("1101700230708")
    assert not is_valid_cid("1101700230703")  # wrong check digit


def test_check_digit_wraps_to_zero_and_one() -> None:
    # 1234567890121: sum = 13+24+33+40+45+48+49+48+45+0+3+4 = 352; 352 % 11 = 0 -> 11 % 10 = 1
    assert cid_check_digit("123456789012") == 1
    assert is_valid_cid("1234567890121")
    # 100000000001: sum = 13 + 2 = 15; 15 % 11 = 4 -> 7
    assert cid_check_digit("100000000001") == 7
    # 300000000000: sum = 39; 39 % 11 = 6 -> 5
    assert cid_check_digit("300000000000") == 5
    # 100000000010: sum = 13 + 3 = 16 -> 16 % 11 = 5 -> 6
    assert cid_check_digit("100000000010") == 6
    # 100000000009: sum = 13 + 18 = 31; 31 % 11 = 9 -> 2
    assert cid_check_digit("100000000009") == 2


def test_check_digit_rejects_bad_input() -> None:
    for bad in ("11017002307", "1101700230700", "11017002307a", "１１０１７００２３０７０"):
        with pytest.raises(ValueError):
            cid_check_digit(bad)


@pytest.mark.parametrize(
    "cid",
    [
        "",
        "110170023070",  # 12 digits
        "11017002307080",  # 14 digits
        "110170023070a",
        "1101-00230708",
        " 1101700230708",
        "0101700230708",  # leading zero (even with a matching check digit below)
        "１１０１７００２３０７０８",  # full-width digits are not ASCII
    ],
)
def test_invalid_cids(cid: str) -> None:
    assert not is_valid_cid(cid)


def test_leading_zero_rejected_even_with_right_check_digit() -> None:
    first12 = "010170023070"
    assert not is_valid_cid(first12 + str(cid_check_digit(first12)))


def test_non_string_is_invalid() -> None:
    assert not is_valid_cid(1101700230708)  # type: ignore[arg-type]


def test_random_cid_is_valid_and_deterministic() -> None:
    a = [random_cid(random.Random(7)) for _ in range(3)]
    assert len(set(a)) == 1
    rng = random.Random(1)
    cids = [random_cid(rng) for _ in range(500)]
    assert all(is_valid_cid(c) for c in cids)
    assert len(set(cids)) == 500


def test_systems() -> None:
    assert CID_SYSTEM == "https://terms.sil-th.org/id/th-cid"
    assert HCODE_SYSTEM == "https://terms.sil-th.org/id/th-moph-hcode"
