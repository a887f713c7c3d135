"""What authlib's server core stores: clients, authorization codes, refresh tokens,
revocations, and use-once markers. **Synchronous** (PyMongo's ``MongoClient``):
authlib's core is synchronous and runs in a worker thread (``oauth.py``).

Codes and refresh tokens are stored by their SHA-256 only. "Used once" is an insert
of a unique marker (``use_once``), atomic on FerretDB as on MongoDB: a second use of
an authorization code or of a rotated refresh token finds the marker and revokes the
whole family of tokens that came from the same sign-in.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from datetime import datetime
from typing import Any, Protocol

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from services.auth.domain import Client, ClientKind
from shared.database import Document, client_options
from shared.settings import Settings


class OAuthStore(Protocol):
    def client(self, client_id: str) -> Client | None: ...
    def put_client(self, client: Client, *, new: bool) -> bool:
        """Insert (``new``: False if the id exists) or replace a client."""
        ...

    def clients(self) -> list[Client]: ...
    def save_code(self, key: str, doc: Document) -> None: ...
    def code(self, key: str) -> Document | None: ...
    def delete_code(self, key: str) -> None: ...
    def save_refresh(self, key: str, doc: Document) -> None: ...
    def refresh(self, key: str) -> Document | None: ...
    def use_once(self, key: str, expires_at: datetime) -> bool:
        """True the first time ``key`` is used, False ever after."""
        ...

    def revoke(self, key: str, expires_at: datetime) -> None:
        """Revoke a family (``family:<id>``) or an access token (``jti:<id>``)."""
        ...

    def revoked(self, key: str) -> bool: ...
    def purge(self, before: datetime) -> None: ...


def client_to_doc(client: Client) -> Document:
    doc = client.describe()
    doc["_id"] = doc.pop("client_id")
    doc.pop("token_endpoint_auth_method")
    return doc


def client_from_doc(doc: Document) -> Client:
    return Client(
        client_id=doc["_id"],
        kind=ClientKind(doc["kind"]),
        name=doc["name"],
        scope=doc["scope"],
        redirect_uris=tuple(doc.get("redirect_uris") or ()),
        jwks=doc.get("jwks"),
        hospital=doc.get("hospital"),
        roles=tuple(doc.get("roles") or ()),
        active=bool(doc.get("active", True)),
    )


def sync_database(settings: Settings, service: str) -> tuple[MongoClient[Document], Any]:
    """A synchronous client for the worker thread; it connects on first use."""
    client: MongoClient[Document] = MongoClient(
        settings.mongo_url,
        connect=False,
        appname="healthlink-auth-oauth",
        **client_options(settings),
    )
    return client, client[settings.db_name(service)]


class MongoOAuthStore:
    """``clients``, ``codes``, ``refresh_tokens``, ``used`` and ``revoked``."""

    def __init__(self, db: Database[Document]) -> None:
        self._db = db

    def client(self, client_id: str) -> Client | None:
        doc = self._db.clients.find_one({"_id": client_id})
        return client_from_doc(doc) if doc else None

    def put_client(self, client: Client, *, new: bool) -> bool:
        doc = client_to_doc(client)
        if not new:
            self._db.clients.replace_one({"_id": doc["_id"]}, doc, upsert=True)
            return True
        try:
            self._db.clients.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    def clients(self) -> list[Client]:
        return [client_from_doc(d) for d in self._db.clients.find({}).sort("_id", 1)]

    def save_code(self, key: str, doc: Document) -> None:
        self._db.codes.insert_one({"_id": key, **doc})

    def code(self, key: str) -> Document | None:
        return self._db.codes.find_one({"_id": key})

    def delete_code(self, key: str) -> None:
        self._db.codes.delete_one({"_id": key})

    def save_refresh(self, key: str, doc: Document) -> None:
        self._db.refresh_tokens.insert_one({"_id": key, **doc})

    def refresh(self, key: str) -> Document | None:
        return self._db.refresh_tokens.find_one({"_id": key})

    def use_once(self, key: str, expires_at: datetime) -> bool:
        try:
            self._db.used.insert_one({"_id": key, "expires_at": expires_at})
        except DuplicateKeyError:
            return False
        return True

    def revoke(self, key: str, expires_at: datetime) -> None:
        with contextlib.suppress(DuplicateKeyError):  # already revoked
            self._db.revoked.insert_one({"_id": key, "expires_at": expires_at})

    def revoked(self, key: str) -> bool:
        return self._db.revoked.find_one({"_id": key}) is not None

    def purge(self, before: datetime) -> None:
        for name in ("codes", "refresh_tokens", "used", "revoked"):
            self._db[name].delete_many({"expires_at": {"$lt": before}})


class MemoryOAuthStore:
    """The in-memory fake; thread-safe like the database (authlib runs in threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.docs: dict[str, dict[str, Document]] = {
            n: {} for n in ("clients", "codes", "refresh_tokens", "used", "revoked")
        }

    def client(self, client_id: str) -> Client | None:
        doc = self.docs["clients"].get(client_id)
        return client_from_doc(doc) if doc else None

    def put_client(self, client: Client, *, new: bool) -> bool:
        doc = client_to_doc(client)
        with self._lock:
            if new and doc["_id"] in self.docs["clients"]:
                return False
            self.docs["clients"][doc["_id"]] = doc
        return True

    def clients(self) -> list[Client]:
        return [client_from_doc(d) for _, d in sorted(self.docs["clients"].items())]

    def save_code(self, key: str, doc: Document) -> None:
        self.docs["codes"][key] = {"_id": key, **copy.deepcopy(doc)}

    def code(self, key: str) -> Document | None:
        return copy.deepcopy(self.docs["codes"].get(key))

    def delete_code(self, key: str) -> None:
        self.docs["codes"].pop(key, None)

    def save_refresh(self, key: str, doc: Document) -> None:
        self.docs["refresh_tokens"][key] = {"_id": key, **copy.deepcopy(doc)}

    def refresh(self, key: str) -> Document | None:
        return copy.deepcopy(self.docs["refresh_tokens"].get(key))

    def use_once(self, key: str, expires_at: datetime) -> bool:
        with self._lock:
            if key in self.docs["used"]:
                return False
            self.docs["used"][key] = {"expires_at": expires_at}
        return True

    def revoke(self, key: str, expires_at: datetime) -> None:
        self.docs["revoked"].setdefault(key, {"expires_at": expires_at})

    def revoked(self, key: str) -> bool:
        return key in self.docs["revoked"]

    def purge(self, before: datetime) -> None:
        with self._lock:
            for name in ("codes", "refresh_tokens", "used", "revoked"):
                table = self.docs[name]
                for key in [k for k, d in table.items() if d["expires_at"] < before]:
                    del table[key]
