"""The vocabulary synthetic records draw from: code systems, Thai names and places,
hospitals, and the clinical codes each resource type picks from."""

from __future__ import annotations

from datetime import timedelta, timezone

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CVX = "http://hl7.org/fhir/sid/cvx"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"

THAI_TIME = timezone(timedelta(hours=7))

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
HOSPITAL_NAMES = {code: (th, en) for code, th, en in THAI_HOSPITALS}

MALE_GIVEN = ["สมชาย", "วิชัย", "ประเสริฐ", "สุนทร", "อรุณ", "ธนพล", "ณัฐวุฒิ", "กิตติพงษ์"]
FEMALE_GIVEN = ["สมหญิง", "มาลี", "นภา", "ปราณี", "พิมพ์ชนก", "ศิริพร", "กมลวรรณ", "สุภาวดี"]
FAMILY = ["ใจดี", "สุขสวัสดิ์", "วงศ์สวัสดิ์", "ศรีสุข", "ทองดี", "แสงทอง", "บุญมา", "รัตนพันธ์"]
PLACES = [  # (district, province, postal code)
    ("บางกอกน้อย", "กรุงเทพมหานคร", "10700"),
    ("ราชเทวี", "กรุงเทพมหานคร", "10400"),
    ("เมืองเชียงใหม่", "เชียงใหม่", "50200"),
    ("เมืองขอนแก่น", "ขอนแก่น", "40000"),
    ("หาดใหญ่", "สงขลา", "90110"),
    ("เมืองชลบุรี", "ชลบุรี", "20000"),
]

# (ICD-10 code, display, Thai text, sensitivity label or None)
CONDITIONS = [
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
SENSITIVE_CONDITIONS = {
    "HIV": ("B24", "Unspecified human immunodeficiency virus [HIV] disease", "เอชไอวี"),
    "PSY": ("F32.9", "Depressive episode, unspecified", "ภาวะซึมเศร้า"),
    "SUD": ("F10.2", "Mental and behavioural disorders due to use of alcohol: dependence",
            "ติดสุรา"),
}  # fmt: skip
SENSITIVE_DISPLAY = {
    "HIV": "HIV/AIDS information sensitivity",
    "PSY": "psychiatry disorder information sensitivity",
    "SUD": "substance use disorder information sensitivity",
}

# (LOINC, display, UCUM unit, low, high, min value, max value, decimals)
LABS = [
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
VACCINES = [
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
ALLERGENS = [
    ("764146007", "Penicillin", "แพ้ยาเพนิซิลลิน"),
    ("387406002", "Sulfonamide", "แพ้ยากลุ่มซัลโฟนาไมด์"),
    ("387458008", "Aspirin", "แพ้ยาแอสไพริน"),
    ("387207008", "Ibuprofen", "แพ้ยาไอบูโพรเฟน"),
    ("387135004", "Allopurinol", "แพ้ยาอัลโลพูรินอล"),
    ("387222003", "Carbamazepine", "แพ้ยาคาร์บามาซีปีน"),
]
REACTIONS = [
    ("271807003", "Eruption of skin"),
    ("126485001", "Urticaria"),
    ("41291007", "Angioedema"),
    ("39579001", "Anaphylaxis"),
    ("73442001", "Stevens-Johnson syndrome"),
]

# (RxNorm, display, Thai/label text, quantity, dosage text)
MEDICATIONS = [
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
PROCEDURES = [
    ("29303009", "Electrocardiographic procedure", "ตรวจคลื่นไฟฟ้าหัวใจ"),
    ("399208008", "Plain X-ray of chest", "เอกซเรย์ปอด"),
    ("73761001", "Colonoscopy", "ส่องกล้องลำไส้ใหญ่"),
    ("80146002", "Appendectomy", "ผ่าตัดไส้ติ่ง"),
    ("38102005", "Cholecystectomy", "ผ่าตัดถุงน้ำดี"),
    ("265764009", "Renal dialysis", "ฟอกเลือดด้วยเครื่องไตเทียม"),
]

# (LOINC, display, conclusion)
IMAGING = [
    ("36643-5", "XR Chest 2 Views", "ไม่พบความผิดปกติของปอดและหัวใจ (No active pulmonary disease)"),
    ("24627-2", "CT Chest", "พบก้อนขนาดเล็กที่ปอดขวา แนะนำติดตาม (Small right lung nodule)"),
    ("30704-1", "US Abdomen", "ไขมันพอกตับเล็กน้อย (Mild fatty liver)"),
]
LAB_PANELS = [
    ("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma"),
    ("58410-2", "CBC panel - Blood by Automated count"),
    ("57698-3", "Lipid panel with direct LDL - Serum or Plasma"),
]

ENCOUNTER_CLASSES = [("AMB", "ambulatory", "ผู้ป่วยนอก"), ("IMP", "inpatient encounter",
                      "ผู้ป่วยใน"), ("EMER", "emergency", "ผู้ป่วยฉุกเฉิน")]  # fmt: skip

# Clinical types in generation order: encounters first so others can point at them.
TYPE_ORDER = ("Encounter", "Condition", "Observation", "Immunization", "AllergyIntolerance",
               "MedicationDispense", "Procedure", "DiagnosticReport")  # fmt: skip
TYPE_WEIGHTS = (3, 3, 8, 1, 1, 3, 1, 2)
