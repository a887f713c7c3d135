"""Health Link's hospital adapter: send signed FHIR Bundles, receive data requests.

    from healthlink_adapter import DataRequestReader, HttpUploader, KafkaUploader

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
    from healthlink_adapter.kafka import KafkaConnection, KafkaUploader
    from healthlink_adapter.signing import HmacSha256, Signer
    from healthlink_adapter.uploads import patient_cid

_WHERE = {
    "DataRequest": "datarequests",
    "DataRequestReader": "datarequests",
    "parse_data_request": "datarequests",
    "HttpUploader": "http",
    "UploadRefused": "http",
    "KafkaConnection": "kafka",
    "KafkaUploader": "kafka",
    "HmacSha256": "signing",
    "Signer": "signing",
    "patient_cid": "uploads",
}

__all__ = [
    "DataRequest",
    "DataRequestReader",
    "HmacSha256",
    "HttpUploader",
    "KafkaConnection",
    "KafkaUploader",
    "Signer",
    "UploadRefused",
    "parse_data_request",
    "patient_cid",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"healthlink_adapter.{module}"), name)
    globals()[name] = value
    return value
