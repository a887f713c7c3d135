"""Parse and validate an uploaded FHIR R4 Bundle (entry by entry, R4B models).

Two phases, so the costly one can run beside the database look-ups:

- ``load_bundle``: JSON, Bundle structure, ids, urn:uuid references and the
  patient's CID (cheap, no model validation);
- ``validate_resources``: every resource against its R4B model (the CPU cost).

``parse_bundle`` runs both and applies the CID rules. Every rejection is a
``BundleRejected`` whose ``reason`` is the dead-letter reason; its detail names
paths and types, never values (no patient data in reasons or logs).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource
from fhir_core.types import FhirBase
from healthlink_adapter.contract import MAX_UPLOAD_BYTES
from pydantic import BaseModel, ValidationError

from services.ingest.errors import BundleRejected
from shared.cid import CID_SYSTEM, is_valid_cid

BUNDLE_TYPES = frozenset({"transaction", "batch", "collection", "searchset", "document", "message"})
_ABSTRACT_TYPES = frozenset({"Resource", "DomainResource"})
_URN_UUID = "urn:uuid:"
_MAX_MSG = 160


@dataclass(frozen=True)
class ParsedBundle:
    """A validated bundle: resources as sent, with in-bundle urn:uuid references resolved."""

    bundle_id: str | None
    bundle_type: str
    patient_cid: str
    resources: list[dict[str, Any]]


@dataclass
class LoadedBundle:
    """A structurally sound bundle whose resources are not validated yet."""

    bundle_id: str | None
    bundle_type: str
    resources: list[dict[str, Any]]
    entry_index: list[int]
    cids: set[str] = field(default_factory=set)

    @property
    def cid(self) -> str | None:
        """The one patient CID, when there is exactly one."""
        return next(iter(self.cids)) if len(self.cids) == 1 else None


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


def _validate(index: int, resource: dict[str, Any]) -> None:
    """Validate one entry resource against its R4B model."""
    rtype = resource["resourceType"]
    model = _model_for(rtype)
    if model is None:
        raise BundleRejected("invalid-resource", f"entry[{index}]: unknown resource type")
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        detail = f"entry[{index}] {rtype}: {_first_error(exc)}"
        raise BundleRejected("invalid-resource", detail) from None
    except Exception as exc:  # fhir_core may raise e.g. KeyError for bad contained types
        raise BundleRejected(
            "invalid-resource", f"entry[{index}] {rtype}: {type(exc).__name__}"
        ) from None


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
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return cids
    for ident in identifiers:
        if isinstance(ident, dict) and ident.get("system") == CID_SYSTEM:
            value = ident.get("value")
            if isinstance(value, str) and is_valid_cid(value):
                cids.add(value)
    return cids


def _load_json(raw: bytes, max_bytes: int) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise BundleRejected("oversized", f"body exceeds {max_bytes} bytes")
    try:
        doc = orjson.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise BundleRejected("malformed-json", f"not valid JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise BundleRejected("not-a-bundle", "resourceType is not Bundle")
    if doc.get("type") not in BUNDLE_TYPES:
        raise BundleRejected("not-a-bundle", "Bundle.type missing or not supported")
    return doc


def _entry_resource(index: int, entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        raise BundleRejected("invalid-resource", f"entry[{index}]: not an object")
    resource = entry.get("resource")
    if resource is None:
        return None  # e.g. a DELETE in a transaction: nothing to store
    if not isinstance(resource, dict):
        raise BundleRejected("invalid-resource", f"entry[{index}].resource: not an object")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str):
        raise BundleRejected("invalid-resource", f"entry[{index}]: missing resourceType")
    return resource


def _give_id(index: int, entry: dict[str, Any], resource: dict[str, Any]) -> str | None:
    """Give a urn:uuid entry its id; return the urn it answers to, if any."""
    full_url = entry.get("fullUrl")
    if isinstance(full_url, str) and full_url.startswith(_URN_UUID):
        if resource.get("id") is None:
            rid = full_url[len(_URN_UUID) :]
            if not valid_id(rid):
                raise BundleRejected("invalid-resource", f"entry[{index}].fullUrl: bad uuid")
            resource["id"] = rid
        return full_url
    return None


def load_bundle(
    raw: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES, resolve_references: bool = True
) -> LoadedBundle:
    """JSON and Bundle structure, ids and urn:uuid references; no model validation yet.

    ``resolve_references=False`` leaves references as sent (for validating only: a
    reference is a string either way, so the outcome is the same).
    """
    doc = _load_json(raw, max_bytes)
    entries = doc.get("entry")
    if entries is None or entries == []:
        raise BundleRejected("empty-bundle", "Bundle has no entries")
    if not isinstance(entries, list):
        raise BundleRejected("not-a-bundle", "Bundle.entry is not an array")
    bundle_id = doc.get("id")
    loaded = LoadedBundle(
        bundle_id=bundle_id if isinstance(bundle_id, str) else None,
        bundle_type=doc["type"],
        resources=[],
        entry_index=[],
    )
    targets: dict[str, str] = {}
    for index, entry in enumerate(entries):
        resource = _entry_resource(index, entry)
        if resource is None:
            continue
        urn = _give_id(index, entry, resource)
        if urn is not None:
            targets[urn] = f"{resource['resourceType']}/{resource['id']}"
        if resource["resourceType"] == "Patient":
            loaded.cids |= _patient_cids(resource)
        loaded.resources.append(resource)
        loaded.entry_index.append(index)
    if not loaded.resources:
        raise BundleRejected("empty-bundle", "Bundle has no entry resources")
    if targets and resolve_references:
        for resource in loaded.resources:
            _rewrite_refs(resource, targets)
    return loaded


def validate_resources(loaded: LoadedBundle) -> None:
    """Every resource against its R4B model; every resource needs an id."""
    for index, resource in zip(loaded.entry_index, loaded.resources, strict=True):
        _validate(index, resource)
        if "id" not in resource:
            rtype = resource["resourceType"]
            raise BundleRejected("invalid-resource", f"entry[{index}] {rtype}: no id")


def finish(loaded: LoadedBundle) -> ParsedBundle:
    """The CID rules: exactly one patient CID on the bundle's Patient resources."""
    if not loaded.cids:
        raise BundleRejected("no-cid", f"no Patient identifier with system {CID_SYSTEM}")
    if len(loaded.cids) > 1:
        raise BundleRejected("invalid-resource", "more than one patient CID in the bundle")
    return ParsedBundle(
        bundle_id=loaded.bundle_id,
        bundle_type=loaded.bundle_type,
        patient_cid=next(iter(loaded.cids)),
        resources=loaded.resources,
    )


def parse_bundle(raw: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES) -> ParsedBundle:
    """Parse, validate and normalise a Bundle, or raise ``BundleRejected``."""
    loaded = load_bundle(raw, max_bytes=max_bytes)
    validate_resources(loaded)
    return finish(loaded)


def _leaf_types(annotation: Any) -> Iterator[Any]:
    args = typing.get_args(annotation)
    if not args:
        yield annotation
    for arg in args:
        yield from _leaf_types(arg)


def warm_up(resource_types: Iterable[str]) -> int:
    """Load the R4B models of ``resource_types`` and every element type they use.

    fhir.resources imports a model's module the first time data needs it, which
    makes the first bundles after a start ~10x slower; a service calls this once
    at start instead. Returns how many model classes are loaded.
    """
    seen: set[type[BaseModel]] = set()
    found = (_model_for(name) for name in resource_types)
    pending: list[type[BaseModel]] = [model for model in found if model is not None]
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for info in model.model_fields.values():
            for leaf in _leaf_types(info.annotation):
                if isinstance(leaf, type) and issubclass(leaf, FhirBase):
                    try:
                        pending.append(leaf.get_model_klass())
                    except (ImportError, AttributeError, ValueError):
                        continue  # abstract types (Resource) have no concrete model
    return len(seen)


def valid_id(rid: str) -> bool:
    """FHIR id rule: 1-64 of [A-Za-z0-9.-]."""
    return 0 < len(rid) <= 64 and all(c.isascii() and (c.isalnum() or c in "-.") for c in rid)
