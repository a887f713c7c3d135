"""Deterministic synthetic Thai FHIR R4 patient records (no real patient data)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from shared.cid import CID_SYSTEM, HCODE_SYSTEM, random_cid

JSON = dict[str, Any]

DEFAULT_UPDATED = "2026-11-01T09:00:00+07:00"
BUNDLE_TYPES = ("transaction", "batch", "collection", "searchset", "document", "message")

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CVX = "http://hl7.org/fhir/sid/cvx"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"

_TH = timezone(timedelta(hours=7))

THAI_HOSPITALS: list[tuple[str, str, str]] = [
    ("10670", "โรงพยาบาลศิริราช", "Siriraj Hospital"),
    ("13781", "โรงพยาบาลรามาธิบดี", "Ramathibodi Hospital"),
    ("11535", "โรงพยาบาลจุฬาลงกรณ์", "King Chulalongkorn Memorial Hospital"),
    ("10669", "โรงพยาบาลราชวิถี", "Rajavithi Hospital"),
    ("10671", "โรงพยาบาลเลิดสิน", "Lerdsin Hospital"),
    ("10713", "โรงพยาบาลมหาราชนครเชียงใหม่", "Maharaj Nakorn Chiang Mai Hospital"),
    ("10707", "โรงพยาบาลขอนแก่น", "Khon Kaen Hospital"),
    ("10745", "โรงพยาบาลหาดใหญ่", "Hat Yai Hospital"),
    ("10682", "โรงพยาบาลชลบุรี", "Chonburi Hospital"),
    ("10662", "โรงพยาบาลนพรัตนราชธานี", "Nopparat Rajathanee Hospital"),
]
_HOSPITAL_NAMES = {code: (th, en) for code, th, en in THAI_HOSPITALS}

_MALE_GIVEN = ["สมชาย", "วิชัย", "ประเสริฐ", "สุนทร", "อรุณ", "ธนพล", "ณัฐวุฒิ", "กิตติพงษ์"]
_FEMALE_GIVEN = ["สมหญิง", "มาลี", "นภา", "ปราณี", "พิมพ์ชนก", "ศิริพร", "กมลวรรณ", "สุภาวดี"]
_FAMILY = ["ใจดี", "สุขสวัสดิ์", "วงศ์สวัสดิ์", "ศรีสุข", "ทองดี", "แสงทอง", "บุญมา", "รัตนพันธ์"]
_PLACES = [  # (district, province, postal code)
    ("บางกอกน้อย", "กรุงเทพมหานคร", "10700"),
    ("ราชเทวี", "กรุงเทพมหานคร", "10400"),
    ("เมืองเชียงใหม่", "เชียงใหม่", "50200"),
    ("เมืองขอนแก่น", "ขอนแก่น", "40000"),
    ("หาดใหญ่", "สงขลา", "90110"),
    ("เมืองชลบุรี", "ชลบุรี", "20000"),
]

# (ICD-10 code, display, Thai text, sensitivity label or None)
_CONDITIONS = [
    ("E11.9", "Type 2 diabetes mellitus without complications", "เบาหวานชนิดที่ 2", None),
    ("I10", "Essential (primary) hypertension", "ความดันโลหิตสูง", None),
    ("J45.9", "Asthma, unspecified", "โรคหืด", None),
    ("K21.9", "Gastro-oesophageal reflux disease without oesophagitis", "กรดไหลย้อน", None),
    ("N18.3", "Chronic kidney disease, stage 3", "ไตเรื้อรังระยะที่ 3", None),
    ("A09", "Diarrhoea and gastroenteritis of presumed infectious origin", "ท้องร่วง", None),
    ("E78.5", "Hyperlipidaemia, unspecified", "ไขมันในเลือดสูง", None),
    ("J06.9", "Acute upper respiratory infection, unspecified", "ไข้หวัด", None),
    ("A90", "Dengue fever [classical dengue]", "ไข้เลือดออกเดงกี", None),
    ("M54.5", "Low back pain", "ปวดหลังส่วนล่าง", None),
]
_SENSITIVE_CONDITIONS = {
    "HIV": ("B24", "Unspecified human immunodeficiency virus [HIV] disease", "เอชไอวี"),
    "PSY": ("F32.9", "Depressive episode, unspecified", "ภาวะซึมเศร้า"),
    "SUD": ("F10.2", "Mental and behavioural disorders due to use of alcohol: dependence",
            "ติดสุรา"),
}  # fmt: skip
_SENSITIVE_DISPLAY = {
    "HIV": "HIV/AIDS information sensitivity",
    "PSY": "psychiatry disorder information sensitivity",
    "SUD": "substance use disorder information sensitivity",
}

# (LOINC, display, UCUM unit, low, high, min value, max value, decimals)
_LABS = [
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99, 65, 220, 0),
    ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.0, 5.6, 4.5, 11.0, 1),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.7, 1.3, 0.5, 3.0, 2),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12.0, 17.5, 9.0, 17.5, 1),
    ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 0, 200, 130, 290, 0),
    ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL", 0, 150, 60, 400, 0),
    ("2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "mg/dL", 40, 90, 28, 80, 0),
    ("13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "mg/dL",
     0, 130, 60, 210, 0),
    ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L",
     7, 40, 8, 120, 0),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1, 3.0, 5.8, 1),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.5, 11.0, 3.0,
     15.0, 1),
    ("33914-3", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, "
     "Plasma or Blood by Creatinine-based formula (MDRD)", "mL/min/{1.73_m2}", 60, 120, 25, 120, 0),
]  # fmt: skip

# (CVX, display)
_VACCINES = [
    ("208", "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, 30 mcg/0.3mL"),
    ("511", "COVID-19 IV Non-US Vaccine (CoronaVac, Sinovac)"),
    ("210", "SARS-COV-2 (COVID-19) vaccine, vector non-replicating, ChAdOx1"),
    ("141", "Influenza, seasonal, injectable"),
    ("115", "Tdap"),
    ("43", "Hep B, adult"),
    ("33", "pneumococcal polysaccharide vaccine, 23 valent"),
    ("134", "Japanese Encephalitis IM"),
    ("175", "Rabies - IM Diploid cell culture"),
]

# (SNOMED substance, display, Thai text)
_ALLERGENS = [
    ("764146007", "Penicillin", "แพ้ยาเพนิซิลลิน"),
    ("387406002", "Sulfonamide", "แพ้ยากลุ่มซัลโฟนาไมด์"),
    ("387458008", "Aspirin", "แพ้ยาแอสไพริน"),
    ("387207008", "Ibuprofen", "แพ้ยาไอบูโพรเฟน"),
    ("387135004", "Allopurinol", "แพ้ยาอัลโลพูรินอล"),
    ("387222003", "Carbamazepine", "แพ้ยาคาร์บามาซีปีน"),
]
_REACTIONS = [
    ("271807003", "Eruption of skin"),
    ("126485001", "Urticaria"),
    ("41291007", "Angioedema"),
    ("39579001", "Anaphylaxis"),
    ("73442001", "Stevens-Johnson syndrome"),
]

# (RxNorm, display, Thai/label text, quantity, dosage text)
_MEDICATIONS = [
    ("861007", "metformin hydrochloride 500 MG Oral Tablet", "Metformin 500 mg tab", 60,
     "รับประทานครั้งละ 1 เม็ด วันละ 2 ครั้ง หลังอาหารเช้า-เย็น"),
    ("197361", "amlodipine 5 MG Oral Tablet", "Amlodipine 5 mg tab", 30,
     "รับประทานครั้งละ 1 เม็ด วันละ 1 ครั้ง หลังอาหารเช้า"),
    ("198211", "simvastatin 20 MG Oral Tablet", "Simvastatin 20 mg tab", 30,
     "รับประทานครั้งละ 1 เม็ด วันละ 1 ครั้ง ก่อนนอน"),
    ("198440", "acetaminophen 500 MG Oral Tablet", "Paracetamol 500 mg tab", 20,
     "รับประทานครั้งละ 1 เม็ด ทุก 4-6 ชั่วโมง เวลาปวดหรือมีไข้"),
    ("314076", "lisinopril 10 MG Oral Tablet", "Lisinopril 10 mg tab", 30,
     "รับประทานครั้งละ 1 เม็ด วันละ 1 ครั้ง"),
    ("745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
     "Salbutamol inhaler 100 mcg/puff", 1, "พ่นครั้งละ 2 กด เวลามีอาการหอบ"),
]  # fmt: skip

# (SNOMED procedure, display, Thai text)
_PROCEDURES = [
    ("29303009", "Electrocardiographic procedure", "ตรวจคลื่นไฟฟ้าหัวใจ"),
    ("399208008", "Plain X-ray of chest", "เอกซเรย์ปอด"),
    ("73761001", "Colonoscopy", "ส่องกล้องลำไส้ใหญ่"),
    ("80146002", "Appendectomy", "ผ่าตัดไส้ติ่ง"),
    ("38102005", "Cholecystectomy", "ผ่าตัดถุงน้ำดี"),
    ("265764009", "Renal dialysis", "ฟอกเลือดด้วยเครื่องไตเทียม"),
]

# (LOINC, display, conclusion)
_IMAGING = [
    ("36643-5", "XR Chest 2 Views", "ไม่พบความผิดปกติของปอดและหัวใจ (No active pulmonary disease)"),
    ("24627-2", "CT Chest", "พบก้อนขนาดเล็กที่ปอดขวา แนะนำติดตาม (Small right lung nodule)"),
    ("30704-1", "US Abdomen", "ไขมันพอกตับเล็กน้อย (Mild fatty liver)"),
]
_LAB_PANELS = [
    ("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma"),
    ("58410-2", "CBC panel - Blood by Automated count"),
    ("57698-3", "Lipid panel with direct LDL - Serum or Plasma"),
]

_ENCOUNTER_CLASSES = [("AMB", "ambulatory", "ผู้ป่วยนอก"), ("IMP", "inpatient encounter",
                      "ผู้ป่วยใน"), ("EMER", "emergency", "ผู้ป่วยฉุกเฉิน")]  # fmt: skip

# Clinical types in generation order: encounters first so others can point at them.
_TYPE_ORDER = ("Encounter", "Condition", "Observation", "Immunization", "AllergyIntolerance",
               "MedicationDispense", "Procedure", "DiagnosticReport")  # fmt: skip
_TYPE_WEIGHTS = (3, 3, 8, 1, 1, 3, 1, 2)


def random_hospital_code(rng: random.Random) -> str:
    """A random 5-digit hospital code (one of THAI_HOSPITALS most of the time)."""
    if rng.random() < 0.8:
        return rng.choice(THAI_HOSPITALS)[0]
    return f"{rng.randint(10000, 99999):05d}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _anchor(updated: str) -> datetime:
    when = datetime.fromisoformat(updated)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _when(rng: random.Random, anchor: datetime, max_days: int = 5 * 365) -> datetime:
    """A local Thai time within ``max_days`` before ``anchor``, office hours."""
    day = (anchor - timedelta(days=rng.randint(1, max_days))).astimezone(_TH)
    return day.replace(hour=rng.randint(8, 16), minute=rng.randint(0, 59), second=0,
                       microsecond=0)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _cc(system: str, code: str, display: str, text: str | None = None) -> JSON:
    concept: JSON = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        concept["text"] = text
    return concept


def _term(cs: str, code: str, display: str | None = None) -> JSON:
    coding: JSON = {"system": TERMINOLOGY + cs, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _hospital_ref(code: str) -> JSON:
    th, _en = _HOSPITAL_NAMES.get(code, (f"โรงพยาบาล {code}", ""))
    return {"identifier": {"system": HCODE_SYSTEM, "value": code}, "display": th}


class _Builder:
    """Holds shared state while one patient bundle is generated."""

    def __init__(self, rng: random.Random, hcode: str, version: int, updated: str) -> None:
        self.rng = rng
        self.hcode = hcode
        self.version = version
        self.updated = updated
        self.anchor = _anchor(updated)
        self.patient_ref = ""
        self.encounters: list[tuple[str, datetime]] = []
        self.lab_refs: list[str] = []

    def meta(self, label: str | None = None) -> JSON:
        meta: JSON = {"versionId": str(self.version), "lastUpdated": self.updated}
        if label is not None:
            meta["security"] = [
                {"system": ACT_CODE, "code": label, "display": _SENSITIVE_DISPLAY[label]}
            ]
        return meta

    def base(self, rtype: str, rid: str, label: str | None = None) -> JSON:
        return {"resourceType": rtype, "id": rid, "meta": self.meta(label)}

    def moment(self) -> tuple[datetime, JSON]:
        """A date, tied to an existing encounter when there is one."""
        if self.encounters and self.rng.random() < 0.8:
            ref, start = self.rng.choice(self.encounters)
            return start + timedelta(minutes=self.rng.randint(5, 180)), {"reference": ref}
        return _when(self.rng, self.anchor), {}

    def patient(self, rid: str, cid: str) -> JSON:
        rng = self.rng
        male = rng.random() < 0.5
        given = rng.choice(_MALE_GIVEN if male else _FEMALE_GIVEN)
        family = rng.choice(_FAMILY)
        prefix = "นาย" if male else rng.choice(["นาง", "นางสาว"])
        age_days = rng.randint(18 * 365 + 5, 90 * 365 - 5)
        birth = self.anchor.date() - timedelta(days=age_days)
        district, province, postal = rng.choice(_PLACES)
        res = self.base("Patient", rid)
        res.update({
            "identifier": [
                {"use": "official", "system": CID_SYSTEM, "value": cid},
                {"use": "usual", "type": _term("v2-0203", "MR", "Medical record number"),
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
            "managingOrganization": _hospital_ref(self.hcode),
        })  # fmt: skip
        return res

    def encounter(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        start = _when(rng, self.anchor)
        code, display, text = rng.choices(_ENCOUNTER_CLASSES, weights=(8, 1, 1))[0]
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
            "period": {"start": _iso(start), "end": _iso(end)},
            "serviceProvider": _hospital_ref(self.hcode),
        })  # fmt: skip
        return res

    def condition(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        if label is not None:
            code, display, text = _SENSITIVE_CONDITIONS[label]
        else:
            code, display, text, _ = rng.choice(_CONDITIONS)
        when, enc = self.moment()
        onset = when - timedelta(days=rng.randint(0, 60))
        res = self.base("Condition", rid, label)
        res.update({
            "clinicalStatus": _term("condition-clinical", "active"),
            "verificationStatus": _term("condition-ver-status", "confirmed"),
            "category": [_term("condition-category", "encounter-diagnosis", "Encounter Diagnosis")],
            "code": _cc(ICD10, code, display, text),
            "subject": {"reference": self.patient_ref},
            "onsetDateTime": _iso(onset),
            "recordedDate": _iso(when),
        })  # fmt: skip
        if enc:
            res["encounter"] = enc
        return res

    def observation(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        code, display, unit, low, high, vmin, vmax, decimals = rng.choice(_LABS)
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
            "category": [_term("observation-category", "laboratory", "Laboratory")],
            "code": _cc(LOINC, code, display),
            "subject": {"reference": self.patient_ref},
            "effectiveDateTime": _iso(when),
            "issued": _iso(when + timedelta(hours=2)),
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
            "interpretation": [_term("v3-ObservationInterpretation", interp)],
            "referenceRange": [ref_range],
        })  # fmt: skip
        if enc:
            res["encounter"] = enc
        self.lab_refs.append(f"urn:uuid:{rid}")
        return res

    def immunization(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        code, display = rng.choice(_VACCINES)
        when, enc = self.moment()
        res = self.base("Immunization", rid, label)
        res.update({
            "status": "completed",
            "vaccineCode": _cc(CVX, code, display),
            "patient": {"reference": self.patient_ref},
            "occurrenceDateTime": _iso(when),
            "primarySource": True,
            "lotNumber": f"{rng.choice('ABCDEFGH')}{rng.randint(1000, 9999)}",
            "site": _term("v3-ActSite", rng.choice(["LA", "RA"])),
            "performer": [{"actor": _hospital_ref(self.hcode)}],
        })  # fmt: skip
        if enc:
            res["encounter"] = enc
        return res

    def allergy(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        code, display, text = rng.choice(_ALLERGENS)
        reaction_code, reaction = rng.choice(_REACTIONS)
        when, enc = self.moment()
        res = self.base("AllergyIntolerance", rid, label)
        res.update({
            "clinicalStatus": _term("allergyintolerance-clinical", "active"),
            "verificationStatus": _term("allergyintolerance-verification", "confirmed"),
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high" if reaction_code in ("39579001", "73442001") else "low",
            "code": _cc(SNOMED, code, display, text),
            "patient": {"reference": self.patient_ref},
            "onsetDateTime": _iso(when - timedelta(days=rng.randint(0, 30))),
            "recordedDate": _iso(when),
            "reaction": [{"manifestation": [_cc(SNOMED, reaction_code, reaction)]}],
        })  # fmt: skip
        if enc:
            res["encounter"] = enc
        return res

    def dispense(self, rid: str, label: str | None) -> JSON:
        code, display, text, quantity, dosage = self.rng.choice(_MEDICATIONS)
        when, enc = self.moment()
        res = self.base("MedicationDispense", rid, label)
        res.update({
            "status": "completed",
            "medicationCodeableConcept": _cc(RXNORM, code, display, text),
            "subject": {"reference": self.patient_ref},
            "performer": [{"actor": _hospital_ref(self.hcode)}],
            "quantity": {"value": quantity, "unit": "unit"},
            "whenHandedOver": _iso(when),
            "dosageInstruction": [{"text": dosage}],
        })  # fmt: skip
        if enc:
            res["context"] = enc
        return res

    def procedure(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        code, display, text = rng.choice(_PROCEDURES)
        when, enc = self.moment()
        res = self.base("Procedure", rid, label)
        res.update({
            "status": "completed",
            "code": _cc(SNOMED, code, display, text),
            "subject": {"reference": self.patient_ref},
        })  # fmt: skip
        if rng.random() < 0.5:
            res["performedDateTime"] = _iso(when)
        else:
            end = when + timedelta(minutes=rng.randint(20, 180))
            res["performedPeriod"] = {"start": _iso(when), "end": _iso(end)}
        if enc:
            res["encounter"] = enc
        return res

    def report(self, rid: str, label: str | None) -> JSON:
        rng = self.rng
        when, enc = self.moment()
        res = self.base("DiagnosticReport", rid, label)
        if self.lab_refs and rng.random() < 0.5:
            code, display = rng.choice(_LAB_PANELS)
            refs = rng.sample(self.lab_refs, min(3, len(self.lab_refs)))
            res.update({
                "status": "final",
                "category": [_term("v2-0074", "LAB", "Laboratory")],
                "code": _cc(LOINC, code, display),
                "result": [{"reference": ref} for ref in refs],
            })  # fmt: skip
        else:
            code, display, conclusion = rng.choice(_IMAGING)
            res.update({
                "status": "final",
                "category": [_term("v2-0074", "RAD", "Radiology")],
                "code": _cc(LOINC, code, display),
                "conclusion": conclusion,
            })  # fmt: skip
        res["subject"] = {"reference": self.patient_ref}
        res["effectiveDateTime"] = _iso(when)
        res["issued"] = _iso(when + timedelta(hours=rng.randint(1, 48)))
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


def _entry(resource: JSON, bundle_type: str, method: str = "PUT") -> JSON:
    entry: JSON = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
    if bundle_type in ("transaction", "batch"):
        url = resource["resourceType"]
        if method == "PUT":
            url = f"{url}/{resource['id']}"
        entry["request"] = {"method": method, "url": url}
    elif bundle_type == "searchset":
        entry["search"] = {"mode": "match" if resource["resourceType"] == "Patient" else "include"}
    return entry


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
    b = _Builder(rng, hospital_code, version, updated)
    bundle_id = _uuid(rng)
    patient_id = _uuid(rng)
    b.patient_ref = f"urn:uuid:{patient_id}"
    patient = b.patient(patient_id, cid or random_cid(rng))

    n_clinical = n_resources - 1
    types = list(_TYPE_ORDER[:n_clinical])
    types += rng.choices(_TYPE_ORDER, weights=_TYPE_WEIGHTS, k=n_clinical - len(types))
    types.sort(key=_TYPE_ORDER.index)
    resources = [patient]
    for rtype in types:
        label = None
        if rng.random() < sensitive_fraction:
            label = rng.choice(("HIV", "PSY", "SUD"))
        resources.append(b.clinical(rtype, _uuid(rng), label))
    bundle: JSON = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"lastUpdated": updated},
        "type": bundle_type,
        "timestamp": updated,
        "entry": [_entry(r, bundle_type) for r in resources],
    }
    if bundle_type == "searchset":
        bundle["total"] = 1
    return bundle


_US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
_SYNTHEA_ID = "https://github.com/synthetichealth/synthea"


def _synthea_patient(rid: str, cid: str, rng: random.Random, birth: date) -> JSON:
    male = rng.random() < 0.5
    return {
        "resourceType": "Patient",
        "id": rid,
        "meta": {"profile": [_US_CORE + "us-core-patient"]},
        "text": {"status": "generated",
                 "div": '<div xmlns="http://www.w3.org/1999/xhtml">Generated by Synthea.</div>'},
        "extension": [
            {"url": _US_CORE + "us-core-race", "extension": [
                {"url": "ombCategory", "valueCoding": {
                    "system": "urn:oid:2.16.840.1.113883.6.238", "code": "2028-9",
                    "display": "Asian"}},
                {"url": "text", "valueString": "Asian"}]},
            {"url": _US_CORE + "us-core-birthsex", "valueCode": "M" if male else "F"},
        ],
        "identifier": [
            {"system": _SYNTHEA_ID, "value": rid},
            {"type": _term("v2-0203", "MR", "Medical Record Number"),
             "system": "http://hospital.smarthealthit.org", "value": rid},
            {"system": CID_SYSTEM, "value": cid},
        ],
        "name": [{"use": "official", "family": rng.choice(["Srisuk", "Thongdee", "Jaidee"]),
                  "given": [rng.choice(["Somchai", "Malee", "Wichai", "Napa"])],
                  "prefix": ["Mr." if male else "Ms."]}],
        "telecom": [{"system": "phone", "value": f"555-{rng.randint(100, 999)}-"
                     f"{rng.randint(1000, 9999)}", "use": "home"}],
        "gender": "male" if male else "female",
        "birthDate": birth.isoformat(),
        "address": [{"extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/geolocation",
            "extension": [{"url": "latitude", "valueDecimal": 13.7563},
                          {"url": "longitude", "valueDecimal": 100.5018}]}],
            "line": ["123 Example Rd"], "city": "Bangkok", "country": "TH"}],
        "maritalStatus": _term("v3-MaritalStatus", "M", "Married"),
        "multipleBirthBoolean": False,
        "communication": [{"language": _cc("urn:ietf:bcp:47", "th", "Thai")}],
    }  # fmt: skip


def synthea_like_bundle(rng: random.Random, cid: str) -> dict[str, Any]:
    """A transaction Bundle shaped like Synthea output, with the CID added to the Patient."""
    anchor = _anchor(DEFAULT_UPDATED)
    ids = [_uuid(rng) for _ in range(12)]
    pat, org, prac, enc, cond, obs, imm, med, proc, rep, claim, eob = ids
    u = {name: f"urn:uuid:{rid}" for name, rid in zip(
        ("pat", "org", "prac", "enc", "cond", "obs", "imm", "med", "proc", "rep", "claim"),
        ids, strict=False)}  # fmt: skip
    start = _when(rng, anchor)
    end = start + timedelta(minutes=30)
    s, e = _iso(start), _iso(end)
    birth = anchor.date() - timedelta(days=rng.randint(18 * 365 + 5, 90 * 365 - 5))
    subject = {"reference": u["pat"]}
    enc_ref = {"reference": u["enc"]}
    checkup = _cc(SNOMED, "185349003", "Encounter for check up (procedure)",
                  "Encounter for check up (procedure)")  # fmt: skip
    coverage_type = {"text": "Universal Coverage Scheme"}
    resources: list[JSON] = [
        _synthea_patient(pat, cid, rng, birth),
        {"resourceType": "Organization", "id": org,
         "meta": {"profile": [_US_CORE + "us-core-organization"]},
         "identifier": [{"system": _SYNTHEA_ID, "value": org}], "active": True,
         "type": [_term("organization-type", "prov", "Healthcare Provider")],
         "name": "SIRIRAJ HOSPITAL"},
        {"resourceType": "Practitioner", "id": prac,
         "meta": {"profile": [_US_CORE + "us-core-practitioner"]},
         "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi",
                         "value": str(rng.randint(10**9, 10**10 - 1))}],
         "active": True, "name": [{"family": "Wongsawat", "given": ["Anan"], "prefix": ["Dr."]}],
         "gender": "male"},
        {"resourceType": "Encounter", "id": enc,
         "meta": {"profile": [_US_CORE + "us-core-encounter"]},
         "identifier": [{"use": "official", "system": _SYNTHEA_ID, "value": enc}],
         "status": "finished",
         "class": {"system": ACT_CODE, "code": "AMB"}, "type": [checkup], "subject": subject,
         "participant": [{"individual": {"reference": u["prac"], "display": "Dr. Anan"}}],
         "period": {"start": s, "end": e},
         "serviceProvider": {"reference": u["org"], "display": "SIRIRAJ HOSPITAL"}},
        {"resourceType": "Condition", "id": cond,
         "meta": {"profile": [_US_CORE + "us-core-condition"]},
         "clinicalStatus": _term("condition-clinical", "active"),
         "verificationStatus": _term("condition-ver-status", "confirmed"),
         "category": [_term("condition-category", "encounter-diagnosis", "Encounter Diagnosis")],
         "code": _cc(SNOMED, "44054006", "Diabetes mellitus type 2 (disorder)"),
         "subject": subject, "encounter": enc_ref, "onsetDateTime": s, "recordedDate": s},
        {"resourceType": "Observation", "id": obs,
         "meta": {"profile": [_US_CORE + "us-core-observation-lab"]},
         "status": "final", "category": [_term("observation-category", "laboratory")],
         "code": _cc(LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
         "subject": subject, "encounter": enc_ref, "effectiveDateTime": s, "issued": s,
         "valueQuantity": {"value": round(rng.uniform(5.5, 9.0), 1), "unit": "%",
                           "system": UCUM, "code": "%"}},
        {"resourceType": "Immunization", "id": imm,
         "meta": {"profile": [_US_CORE + "us-core-immunization"]},
         "status": "completed",
         "vaccineCode": _cc(CVX, "140", "Influenza, seasonal, injectable, preservative free"),
         "patient": subject, "encounter": enc_ref, "occurrenceDateTime": s,
         "primarySource": True},
        {"resourceType": "MedicationRequest", "id": med,
         "meta": {"profile": [_US_CORE + "us-core-medicationrequest"]},
         "status": "active", "intent": "order",
         "medicationCodeableConcept": _cc(RXNORM, "861007",
                                          "metformin hydrochloride 500 MG Oral Tablet"),
         "subject": subject, "encounter": enc_ref, "authoredOn": s,
         "requester": {"reference": u["prac"], "display": "Dr. Anan"},
         "dosageInstruction": [{"sequence": 1, "asNeededBoolean": False}]},
        {"resourceType": "Procedure", "id": proc,
         "meta": {"profile": [_US_CORE + "us-core-procedure"]},
         "status": "completed",
         "code": _cc(SNOMED, "430193006", "Medication Reconciliation (procedure)"),
         "subject": subject, "encounter": enc_ref, "performedPeriod": {"start": s, "end": e},
         "location": {"display": "SIRIRAJ HOSPITAL"}},
        {"resourceType": "DiagnosticReport", "id": rep,
         "meta": {"profile": [_US_CORE + "us-core-diagnosticreport-lab"]},
         "status": "final", "category": [_term("v2-0074", "LAB", "Laboratory")],
         "code": _cc(LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
         "subject": subject, "encounter": enc_ref, "effectiveDateTime": s, "issued": s,
         "result": [{"reference": u["obs"], "display": "Hemoglobin A1c"}]},
        {"resourceType": "Claim", "id": claim, "status": "active",
         "type": _term("claim-type", "professional"), "use": "claim", "patient": subject,
         "billablePeriod": {"start": s, "end": e}, "created": e,
         "provider": {"reference": u["org"], "display": "SIRIRAJ HOSPITAL"},
         "priority": _term("processpriority", "normal"),
         "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": "UCS"}}],
         "item": [{"sequence": 1, "productOrService": checkup,
                   "encounter": [enc_ref]}],
         "total": {"value": 150.0, "currency": "THB"}},
        {"resourceType": "ExplanationOfBenefit", "id": eob,
         "contained": [{"resourceType": "Coverage", "id": "coverage", "status": "active",
                        "type": coverage_type, "beneficiary": subject,
                        "payor": [{"display": "NHSO"}]}],
         "identifier": [{"system": "https://bluebutton.cms.gov/resources/variables/clm_id",
                         "value": claim}],
         "status": "active", "type": _term("claim-type", "professional"), "use": "claim",
         "patient": subject, "billablePeriod": {"start": s, "end": e}, "created": e,
         "insurer": {"display": "NHSO"}, "provider": {"reference": u["prac"]},
         "claim": {"reference": u["claim"]}, "outcome": "complete",
         "insurance": [{"focal": True, "coverage": {"reference": "#coverage",
                                                     "display": "UCS"}}],
         "item": [{"sequence": 1, "productOrService": checkup,
                   "servicedPeriod": {"start": s, "end": e}, "encounter": [enc_ref]}],
         "total": [{"category": _term("adjudication", "submitted", "Submitted Amount"),
                    "amount": {"value": 150.0, "currency": "THB"}}],
         "payment": {"amount": {"value": 150.0, "currency": "THB"}}},
    ]  # fmt: skip
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [_entry(r, "transaction", method="POST") for r in resources],
    }
