"""Private signing keys kept in files: a new P-256 key written once, readable by its owner only.

The auth service's development operator key and each named operator's key
(``healthlink operators add``) are made here: written to a temporary file with mode
0600, then renamed into place, so a crash never leaves half a key behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey


def write_new_key(path: Path) -> ECKey:
    """A new P-256 key (``kid``: its RFC 7638 thumbprint) written to ``path`` with mode
    0600. A key whose thumbprint begins with ``-`` (1 in 64) is drawn again: its kid is
    typed on command lines (``healthlink hospitals remove-key CODE KID``), where a leading
    dash reads as an option."""
    generated = ECKey.generate_key("P-256", private=True)
    while generated.thumbprint().startswith("-"):
        generated = ECKey.generate_key("P-256", private=True)
    key = ECKey.import_key(generated.as_dict(private=True), {"kid": generated.thumbprint()})
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(key.as_dict(private=True) | {"kid": key.kid}))
    os.chmod(temp, 0o600)
    temp.replace(path)
    return key


def public_set(key: ECKey) -> dict[str, Any]:
    """The JWK set a client registers: ``key``'s public half, for ES256 signatures."""
    return {"keys": [key.as_dict(private=False) | {"kid": key.kid, "use": "sig", "alg": "ES256"}]}
