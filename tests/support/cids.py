"""Valid CIDs (check digit included) for tests: two patients who are never the same."""

from __future__ import annotations

from shared.cid import cid_check_digit

CID = "110170012345" + str(cid_check_digit("110170012345"))
OTHER = "310170012345" + str(cid_check_digit("310170012345"))
