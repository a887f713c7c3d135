"""Deterministic synthetic Thai FHIR R4 patient bundles (no real patient data)."""

from __future__ import annotations

import random
from typing import Any

from healthlink.synthetic.elements import JSON, bundle_entry, uuid4_from
from healthlink.synthetic.records import Builder
from healthlink.synthetic.vocabulary import THAI_HOSPITALS, TYPE_ORDER, TYPE_WEIGHTS
from shared.cid import random_cid

DEFAULT_UPDATED = "2026-11-01T09:00:00+07:00"
BUNDLE_TYPES = ("transaction", "batch", "collection", "searchset", "document", "message")


def random_hospital_code(rng: random.Random) -> str:
    """A random 5-digit hospital code (one of THAI_HOSPITALS most of the time)."""
    if rng.random() < 0.8:
        return rng.choice(THAI_HOSPITALS)[0]
    return f"{rng.randint(10000, 99999):05d}"


def make_patient_bundle(
    rng: random.Random,
    *,
    cid: str | None = None,
    hospital_code: str = "10670",
    n_resources: int = 20,
    bundle_type: str = "transaction",
    sensitive_fraction: float = 0.05,
    version: int = 1,
    updated: str | None = None,
) -> dict[str, Any]:
    """One patient's Bundle: the Patient, then ``n_resources - 1`` clinical resources.

    With ``n_resources >= 9`` every clinical category is present. Resource ids are
    uuids drawn from ``rng``, so the same seed gives the same ids for any ``version``.
    """
    if n_resources < 1:
        raise ValueError("n_resources must be at least 1")
    if bundle_type not in BUNDLE_TYPES:
        raise ValueError("unsupported bundle type")
    updated = updated or DEFAULT_UPDATED
    b = Builder(rng, hospital_code, version, updated)
    bundle_id = uuid4_from(rng)
    patient_id = uuid4_from(rng)
    b.patient_ref = f"urn:uuid:{patient_id}"
    patient = b.patient(patient_id, cid or random_cid(rng))

    n_clinical = n_resources - 1
    types = list(TYPE_ORDER[:n_clinical])
    types += rng.choices(TYPE_ORDER, weights=TYPE_WEIGHTS, k=n_clinical - len(types))
    types.sort(key=TYPE_ORDER.index)
    resources = [patient]
    for rtype in types:
        label = None
        if rng.random() < sensitive_fraction:
            label = rng.choice(("HIV", "PSY", "SUD"))
        resources.append(b.clinical(rtype, uuid4_from(rng), label))
    bundle: JSON = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"lastUpdated": updated},
        "type": bundle_type,
        "timestamp": updated,
        "entry": [bundle_entry(r, bundle_type) for r in resources],
    }
    if bundle_type == "searchset":
        bundle["total"] = 1
    return bundle
