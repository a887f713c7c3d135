"""Parse and validate an uploaded FHIR R4 Bundle (entry by entry, R4B models)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from shared.cid import CID_SYSTEM, is_valid_cid
from shared.errors import InvalidInput

RejectReason = Literal[
    "malformed_json", "not_a_bundle", "invalid_resource", "no_cid", "oversized", "empty_bundle"
]

BUNDLE_TYPES = frozenset({"transaction", "batch", "collection", "searchset", "document", "message"})
_ABSTRACT_TYPES = frozenset({"Resource", "DomainResource"})
_URN_UUID = "urn:uuid:"
_MAX_MSG = 160


class BundleRejected(InvalidInput):
    """The bundle can never be ingested; ``detail`` holds paths and types, never values."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail, code=reason)
        self.reason: RejectReason = reason
        if reason == "oversized":
            self.status = 413

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


@dataclass(frozen=True)
class ParsedBundle:
    """A validated bundle: resources as sent, with in-bundle urn:uuid references resolved."""

    bundle_id: str | None
    bundle_type: str
    patient_cid: str
    resources: list[dict[str, Any]]


@lru_cache(maxsize=256)
def _model_for(resource_type: str) -> type[Resource] | None:
    """The R4B model class for a concrete resource type, else None."""
    if resource_type in _ABSTRACT_TYPES or not resource_type.isalpha():
        return None
    try:
        cls = get_fhir_model_class(resource_type)
    except ValueError:
        return None
    return cls if issubclass(cls, Resource) else None


def _first_error(exc: ValidationError) -> str:
    """First error as 'loc: msg', with the input value never included."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if not errors:
        return "validation failed"
    err = errors[0]
    loc = ".".join(str(part) for part in err.get("loc", ())) or "<root>"
    msg = str(err.get("msg", err.get("type", "invalid")))
    return f"{loc}: {msg[:_MAX_MSG]}"


def _validate(index: int, resource: dict[str, Any]) -> str:
    """Validate one entry resource; return its type."""
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise BundleRejected("invalid_resource", f"entry[{index}]: missing resourceType")
    model = _model_for(rtype)
    if model is None:
        raise BundleRejected("invalid_resource", f"entry[{index}]: unknown resource type")
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        detail = f"entry[{index}] {rtype}: {_first_error(exc)}"
        raise BundleRejected("invalid_resource", detail) from None
    except Exception as exc:  # fhir_core may raise e.g. KeyError for bad contained types
        raise BundleRejected(
            "invalid_resource", f"entry[{index}] {rtype}: {type(exc).__name__}"
        ) from None
    return rtype


def _rewrite_refs(node: Any, targets: dict[str, str]) -> None:
    """Replace in-place every ``reference`` equal to a known urn:uuid fullUrl."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                target = targets.get(value)
                if target is not None:
                    node[key] = target
            elif isinstance(value, dict | list):
                _rewrite_refs(value, targets)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _rewrite_refs(item, targets)


def _patient_cids(resource: dict[str, Any]) -> set[str]:
    cids: set[str] = set()
    for ident in resource.get("identifier") or ():
        if ident.get("system") == CID_SYSTEM:
            value = ident.get("value")
            if isinstance(value, str) and is_valid_cid(value):
                cids.add(value)
    return cids


def _load(raw: bytes, max_bytes: int) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise BundleRejected("oversized", f"body exceeds {max_bytes} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise BundleRejected("malformed_json", f"not valid JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise BundleRejected("not_a_bundle", "resourceType is not Bundle")
    if doc.get("type") not in BUNDLE_TYPES:
        raise BundleRejected("not_a_bundle", "Bundle.type missing or not supported")
    return doc


def parse_bundle(raw: bytes, *, max_bytes: int = 5_000_000) -> ParsedBundle:
    """Parse, validate and normalise a Bundle, or raise ``BundleRejected``."""
    doc = _load(raw, max_bytes)
    entries = doc.get("entry")
    if entries is None or entries == []:
        raise BundleRejected("empty_bundle", "Bundle has no entries")
    if not isinstance(entries, list):
        raise BundleRejected("not_a_bundle", "Bundle.entry is not an array")

    resources: list[dict[str, Any]] = []
    targets: dict[str, str] = {}
    cids: set[str] = set()
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BundleRejected("invalid_resource", f"entry[{index}]: not an object")
        resource = entry.get("resource")
        if resource is None:
            continue  # e.g. a DELETE in a transaction: nothing to store
        if not isinstance(resource, dict):
            raise BundleRejected("invalid_resource", f"entry[{index}].resource: not an object")
        rtype = _validate(index, resource)
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url.startswith(_URN_UUID):
            rid = resource.get("id")
            if rid is None:
                rid = full_url[len(_URN_UUID) :]
                if not _valid_id(rid):
                    raise BundleRejected("invalid_resource", f"entry[{index}].fullUrl: bad uuid")
                resource["id"] = rid
            targets[full_url] = f"{rtype}/{rid}"
        elif "id" not in resource:
            raise BundleRejected("invalid_resource", f"entry[{index}] {rtype}: no id")
        if rtype == "Patient":
            cids |= _patient_cids(resource)
        resources.append(resource)

    if not resources:
        raise BundleRejected("empty_bundle", "Bundle has no entry resources")
    if not cids:
        raise BundleRejected("no_cid", f"no Patient identifier with system {CID_SYSTEM}")
    if len(cids) > 1:
        raise BundleRejected("invalid_resource", "more than one patient CID in the bundle")
    if targets:
        for resource in resources:
            _rewrite_refs(resource, targets)
    bundle_id = doc.get("id")
    return ParsedBundle(
        bundle_id=bundle_id if isinstance(bundle_id, str) else None,
        bundle_type=doc["type"],
        patient_cid=cids.pop(),
        resources=resources,
    )


def _valid_id(rid: str) -> bool:
    """FHIR id rule: 1-64 of [A-Za-z0-9.-]."""
    return 0 < len(rid) <= 64 and all(c.isascii() and (c.isalnum() or c in "-.") for c in rid)
