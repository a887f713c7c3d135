"""Deterministic synthetic Thai FHIR R4 patient records (no real patient data).

``make_patient_bundle`` (one patient's records at one hospital) and
``synthea_like_bundle`` (a Synthea-shaped transaction); the modules hold the
vocabulary, the FHIR building blocks and each resource type's generator.
"""

from healthlink.synthetic.bundles import make_patient_bundle, random_hospital_code
from healthlink.synthetic.synthea import synthea_like_bundle
from healthlink.synthetic.vocabulary import THAI_HOSPITALS

__all__ = ["THAI_HOSPITALS", "make_patient_bundle", "random_hospital_code", "synthea_like_bundle"]
