"""What the bad-input tests accept besides a 4xx."""

from __future__ import annotations


def backend_absent(service: str, status: int, body: bytes) -> bool:
    """The portal runs alone here: a page that needs a back end it fronts (consent's public
    hospital list, say) rightly answers 503 "unavailable" — a dependency down, not bad
    input. Its answers with the back ends running are tested in the browser tests."""
    return service == "portal" and status == 503 and b'"unavailable"' in body
