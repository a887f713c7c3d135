"""Audit errors, each mapped to its HTTP status by the shared error map.

InvalidInput    BadTime (400): a search bound that is not an ISO-8601 time
Unauthorized    NotAnAuditor (401): neither an operator's or auditor's token nor a hospital's
                admin key
Forbidden       OtherHospital (403): a hospital's admin key asking for another hospital
NotFound        NoHeadKey (404): this instance has no head-signing key (tests' fakes only)
Transient       ChainContended: a chain's next seq kept being taken (retried by Kafka)
"""

from __future__ import annotations

from shared.errors import Forbidden, InvalidInput, NotFound, Transient, Unauthorized


class BadTime(InvalidInput):
    code = "invalid-time"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} must be an ISO-8601 time")


class NotAnAuditor(Unauthorized):
    code = "not-an-auditor"

    def __init__(self) -> None:
        super().__init__(
            "an operator's or auditor's token, or a hospital admin key with ?hospital=, required"
        )


class OtherHospital(Forbidden):
    code = "other-hospital"

    def __init__(self) -> None:
        super().__init__("this key is not the admin key of that hospital")


class ChainContended(Transient):
    code = "chain-contended"

    def __init__(self, chain: str) -> None:
        super().__init__(f"could not append to chain {chain}")
        self.chain = chain


class NoHeadKey(NotFound):
    code = "no-head-key"

    def __init__(self) -> None:
        super().__init__("this audit instance signs no heads")
