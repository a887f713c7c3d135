"""One patient's resources: the Patient and each kind of clinical resource."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from healthlink.synthetic.elements import (
    JSON,
    cc,
    hospital_ref,
    iso,
    moment_before,
    parse_anchor,
    term,
)
from healthlink.synthetic.vocabulary import (
    ACT_CODE,
    ALLERGENS,
    CONDITIONS,
    CVX,
    ENCOUNTER_CLASSES,
    FAMILY,
    FEMALE_GIVEN,
    ICD10,
    IMAGING,
    LAB_PANELS,
    LABS,
    LOINC,
    MALE_GIVEN,
    MEDICATIONS,
    PLACES,
    PROCEDURES,
    REACTIONS,
    RXNORM,
    SENSITIVE_CONDITIONS,
    SENSITIVE_DISPLAY,
    SNOMED,
    UCUM,
    VACCINES,
)
from shared.cid import CID_SYSTEM


class Builder:
    """Holds shared state while one patient bundle is generated."""

    def __init__(self, rng: random.Random, hcode: str, version: int, updated: str) -> None:
        self.rng = rng
        self.hcode = hcode
        self.version = version
        self.updated = updated
        self.anchor = parse_anchor(updated)
        self.patient_ref = ""
        self.encounters: list[tuple[str, datetime]] = []
        self.lab_refs: list[str] = []

    def meta(self, label: str | None = None) -> JSON:
        meta: JSON = {"versionId": str(self.version), "lastUpdated": self.updated}
        if label is not None:
            meta["security"] = [
                {"system": ACT_CODE, "code": label, "display": SENSITIVE_DISPLAY[label]}
            ]
        return meta

    def base(self, rtype: str, rid: str, label: str | None = None) -> JSON:
        return {"resourceType": rtype, "id": rid, "meta": self.meta(label)}

    def moment(self) -> tuple[datetime, JSON]:
        """A date, tied to an existing encounter when there is one."""
        if self.encounters and self.rng.random() < 0.8:
            ref, start = self.rng.choice(self.encounters)
            return start + timedelta(minutes=self.rng.randint(5, 180)), {"reference": ref}
        return moment_before(self.rng, self.anchor), {}

    def patient(self, rid: str, cid: str) -> JSON:
        rng = self.rng
        male = rng.random() < 0.5
        given = rng.choice(MALE_GIVEN if male else FEMALE_GIVEN)
        family = rng.choice(FAMILY)
        prefix = "นาย" if male else rng.choice(["นาง", "นางสาว"])
        age_days = rng.randint(18 * 365 + 5, 90 * 365 - 5)
        birth = self.anchor.date() - timedelta(days=age_days)
        district, province, postal = rng.choice(PLACES)
        res = self.base("Patient", rid)
        res.update({
            "identifier": [
                {"use": "official", "system": CID_SYSTEM, "value": cid},
                {"use": "usual", "type": term("v2-0203", "MR", "Medical record number"),
                 "system": f"https://terms.sil-th.org/hcode/5/{self.hcode}/hn",
                 "value": f"{rng.randint(1, 99):02d}-{rng.randint(1, 999_999):06d}"},
            ],
            "active": True,
            "name": [{"use": "official", "text": f"{prefix}{given} {family}", "family": family,
                      "given": [given], "prefix": [prefix]}],
            "telecom": [{"system": "phone", "value": f"08{rng.randint(10_000_000, 99_999_999)}",
                         "use": "mobile"}],
            "gender": "male" if male else "female",
            "birthDate": birth.isoformat(),
            "address": [{"use": "home", "line": [f"{rng.randint(1, 999)}/{rng.randint(1, 99)}"],
                         "district": district, "state": province, "postalCode": postal,
                         "country": "TH"}],
            "managingOrganization": hospital_ref(self.hcode),
        })  # fmt: skip
        return res

    def encounter(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        start = moment_before(rng, self.anchor)
        code, display, text = rng.choices(ENCOUNTER_CLASSES, weights=(8, 1, 1))[0]
        end = start + (timedelta(days=rng.randint(1, 7)) if code == "IMP"
                       else timedelta(minutes=rng.randint(15, 240)))  # fmt: skip
        self.encounters.append((f"urn:uuid:{rid}", start))
        res = self.base("Encounter", rid, label)
        res.update({
            "identifier": [{"system": f"https://terms.sil-th.org/hcode/5/{self.hcode}/vn",
                            "value": f"{start:%y%m%d}{rng.randint(1, 9999):04d}"}],
            "status": "finished",
            "class": {"system": ACT_CODE, "code": code, "display": display},
            "type": [{"text": text}],
            "subject": {"reference": self.patient_ref},
            "period": {"start": iso(start), "end": iso(end)},
            "serviceProvider": hospital_ref(self.hcode),
        })  # fmt: skip
        return res

    def condition(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        if label is not None:
            code, display, text = SENSITIVE_CONDITIONS[label]
        else:
            code, display, text, _ = rng.choice(CONDITIONS)
        when, enc = self.moment()
        onset = when - timedelta(days=rng.randint(0, 60))
        res = self.base("Condition", rid, label)
        res.update({
            "clinicalStatus": term("condition-clinical", "active"),
            "verificationStatus": term("condition-ver-status", "confirmed"),
            "category": [term("condition-category", "encounter-diagnosis", "Encounter Diagnosis")],
            "code": cc(ICD10, code, display, text),
            "subject": {"reference": self.patient_ref},
            "onsetDateTime": iso(onset),
            "recordedDate": iso(when),
        })  # fmt: skip
        if enc:
            res["encounter"] = enc
        return res

    def observation(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        code, display, unit, low, high, vmin, vmax, decimals = rng.choice(LABS)
        value = round(rng.uniform(vmin, vmax), decimals)
        if decimals == 0:
            value = int(value)
        when, enc = self.moment()
        interp = "H" if value > high else "L" if value < low else "N"
        ref_range: JSON = {"high": {"value": high, "unit": unit, "system": UCUM, "code": unit}}
        if low:
            ref_range["low"] = {"value": low, "unit": unit, "system": UCUM, "code": unit}
        res = self.base("Observation", rid, label)
        res.update({
            "status": "final",
            "category": [term("observation-category", "laboratory", "Laboratory")],
            "code": cc(LOINC, code, display),
            "subject": {"reference": self.patient_ref},
            "effectiveDateTime": iso(when),
            "issued": iso(when + timedelta(hours=2)),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
            "interpretation": [term("v3-ObservationInterpretation", interp)],
            "referenceRange": [ref_range],
        })  # fmt: skip
        if enc:
            res["encounter"] = enc
        self.lab_refs.append(f"urn:uuid:{rid}")
        return res

    def immunization(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        code, display = rng.choice(VACCINES)
        when, enc = self.moment()
        res = self.base("Immunization", rid, label)
        res.update({
            "status": "completed",
            "vaccineCode": cc(CVX, code, display),
            "patient": {"reference": self.patient_ref},
            "occurrenceDateTime": iso(when),
            "primarySource": True,
            "lotNumber": f"{rng.choice('ABCDEFGH')}{rng.randint(1000, 9999)}",
            "site": term("v3-ActSite", rng.choice(["LA", "RA"])),
            "performer": [{"actor": hospital_ref(self.hcode)}],
        })  # fmt: skip
        if enc:
            res["encounter"] = enc
        return res

    def allergy(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        code, display, text = rng.choice(ALLERGENS)
        reaction_code, reaction = rng.choice(REACTIONS)
        when, enc = self.moment()
        res = self.base("AllergyIntolerance", rid, label)
        res.update({
            "clinicalStatus": term("allergyintolerance-clinical", "active"),
            "verificationStatus": term("allergyintolerance-verification", "confirmed"),
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high" if reaction_code in ("39579001", "73442001") else "low",
            "code": cc(SNOMED, code, display, text),
            "patient": {"reference": self.patient_ref},
            "onsetDateTime": iso(when - timedelta(days=rng.randint(0, 30))),
            "recordedDate": iso(when),
            "reaction": [{"manifestation": [cc(SNOMED, reaction_code, reaction)]}],
        })  # fmt: skip
        if enc:
            res["encounter"] = enc
        return res

    def dispense(self, rid: str, label: str | None) -> JSON:
        code, display, text, quantity, dosage = self.rng.choice(MEDICATIONS)
        when, enc = self.moment()
        res = self.base("MedicationDispense", rid, label)
        res.update({
            "status": "completed",
            "medicationCodeableConcept": cc(RXNORM, code, display, text),
            "subject": {"reference": self.patient_ref},
            "performer": [{"actor": hospital_ref(self.hcode)}],
            "quantity": {"value": quantity, "unit": "unit"},
            "whenHandedOver": iso(when),
            "dosageInstruction": [{"text": dosage}],
        })  # fmt: skip
        if enc:
            res["context"] = enc
        return res

    def procedure(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        code, display, text = rng.choice(PROCEDURES)
        when, enc = self.moment()
        res = self.base("Procedure", rid, label)
        res.update({
            "status": "completed",
            "code": cc(SNOMED, code, display, text),
            "subject": {"reference": self.patient_ref},
        })  # fmt: skip
        if rng.random() < 0.5:
            res["performedDateTime"] = iso(when)
        else:
            end = when + timedelta(minutes=rng.randint(20, 180))
            res["performedPeriod"] = {"start": iso(when), "end": iso(end)}
        if enc:
            res["encounter"] = enc
        return res

    def report(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        when, enc = self.moment()
        res = self.base("DiagnosticReport", rid, label)
        if self.lab_refs and rng.random() < 0.5:
            code, display = rng.choice(LAB_PANELS)
            refs = rng.sample(self.lab_refs, min(3, len(self.lab_refs)))
            res.update({
                "status": "final",
                "category": [term("v2-0074", "LAB", "Laboratory")],
                "code": cc(LOINC, code, display),
                "result": [{"reference": ref} for ref in refs],
            })  # fmt: skip
        else:
            code, display, conclusion = rng.choice(IMAGING)
            res.update({
                "status": "final",
                "category": [term("v2-0074", "RAD", "Radiology")],
                "code": cc(LOINC, code, display),
                "conclusion": conclusion,
            })  # fmt: skip
        res["subject"] = {"reference": self.patient_ref}
        res["effectiveDateTime"] = iso(when)
        res["issued"] = iso(when + timedelta(hours=rng.randint(1, 48)))
        if enc:
            res["encounter"] = enc
        return res

    def clinical(self, rtype: str, rid: str, label: str | None) -> JSON:
        makers = {
            "Encounter": self.encounter, "Condition": self.condition,
            "Observation": self.observation, "Immunization": self.immunization,
            "AllergyIntolerance": self.allergy, "MedicationDispense": self.dispense,
            "Procedure": self.procedure, "DiagnosticReport": self.report,
        }  # fmt: skip
        return makers[rtype](rid, label)
