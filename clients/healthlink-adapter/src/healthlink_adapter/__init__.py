"""Health Link's hospital adapter: send signed FHIR Bundles, receive data requests.

    from healthlink_adapter import DataRequestReader, HttpUploader, KafkaUploader

The wire contract (topics, headers, limits) is in ``healthlink_adapter.contract``;
signatures in ``healthlink_adapter.signing``. See the package README.
"""

from healthlink_adapter.datarequests import DataRequest, DataRequestReader, parse_data_request
from healthlink_adapter.http import HttpUploader, UploadRefused
from healthlink_adapter.httprequests import HttpDataRequests, RequestsPage
from healthlink_adapter.kafka import KafkaConnection, KafkaUploader
from healthlink_adapter.signing import JwsSigner, SignatureRefused, Signer, new_key, public_jwk
from healthlink_adapter.uploads import patient_cid

__all__ = [
    "DataRequest",
    "DataRequestReader",
    "HttpDataRequests",
    "HttpUploader",
    "JwsSigner",
    "KafkaConnection",
    "KafkaUploader",
    "RequestsPage",
    "SignatureRefused",
    "Signer",
    "UploadRefused",
    "new_key",
    "parse_data_request",
    "patient_cid",
    "public_jwk",
]
__version__ = "0.1.0"
