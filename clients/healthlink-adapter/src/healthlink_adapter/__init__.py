"""Health Link's hospital adapter: send signed FHIR Bundles, receive data requests.

    from healthlink_adapter import DataRequestReader, HttpUploader, KafkaUploader
    from healthlink_adapter import BackendServicesAuth  # SMART tokens for HTTP uploads

The wire contract (topics, headers, limits) is in ``healthlink_adapter.contract``;
signatures in ``healthlink_adapter.signing``. See the package README.

The names above are imported when first used (PEP 562), so importing only the contract
(``healthlink_adapter.contract``, as the platform's FHIR validation workers do) does not
import httpx, aiokafka and the uploaders.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthlink_adapter.datarequests import (
        DataRequest,
        DataRequestReader,
        parse_data_request,
    )
    from healthlink_adapter.http import HttpUploader, UploadRefused
    from healthlink_adapter.httprequests import HttpDataRequests, RequestsPage
    from healthlink_adapter.kafka import KafkaConnection, KafkaUploader
    from healthlink_adapter.signing import (
        JwsSigner,
        SignatureRefused,
        Signer,
        new_key,
        public_jwk,
    )
    from healthlink_adapter.smart import BackendServicesAuth, TokenRefused
    from healthlink_adapter.uploads import patient_cid

_WHERE = {
    "DataRequest": "datarequests",
    "DataRequestReader": "datarequests",
    "parse_data_request": "datarequests",
    "HttpUploader": "http",
    "UploadRefused": "http",
    "HttpDataRequests": "httprequests",
    "RequestsPage": "httprequests",
    "KafkaConnection": "kafka",
    "KafkaUploader": "kafka",
    "JwsSigner": "signing",
    "SignatureRefused": "signing",
    "Signer": "signing",
    "new_key": "signing",
    "public_jwk": "signing",
    "patient_cid": "uploads",
    "BackendServicesAuth": "smart",
    "TokenRefused": "smart",
}

__all__ = [
    "BackendServicesAuth",
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
    "TokenRefused",
    "UploadRefused",
    "new_key",
    "parse_data_request",
    "patient_cid",
    "public_jwk",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"healthlink_adapter.{module}"), name)
    globals()[name] = value
    return value
