"""``healthlink hospitals keygen / add-key / remove-key / admin-key``: a hospital's
credentials over its life, through the consent service's API.

A hospital signs its uploads with its own private key; the platform keeps only the
public half (several at once, each with its ``kid``). ``keygen`` makes a key pair, writes
the private JWK to a file only its owner reads (``<data dir>/hospitals/<code>.jwk`` by
default, what ``healthlink simulate`` and the demo sign with) and registers the public
half; a hospital that makes its own key pair hands over the public JWK for ``add-key``.
Rotation: ``keygen --out new.jwk``, switch the adapter to it, ``remove-key`` the old
kid. ``admin-key`` rotates the admin key (printed once; only its hash is kept).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from healthlink_adapter.signing import JwsSigner, public_jwk
from joserfc.jwk import ECKey

from healthlink.hospitals import UrlOption, app, call
from shared.keyfiles import write_new_key


def data_dir() -> Path:
    """The local state's directory (``HEALTHLINK_DATA_DIR``, default ``.data``)."""
    return Path(os.environ.get("HEALTHLINK_DATA_DIR", ".data")).resolve()


def key_path(data_dir: Path | str, code: str) -> Path:
    """Where a development hospital's private signing key is kept."""
    return Path(data_dir) / "hospitals" / f"{code}.jwk"


def load_or_make(path: Path) -> ECKey:
    """The private key in ``path``, made (mode 0600) when there is none yet."""
    if path.exists():
        return ECKey.import_key(json.loads(path.read_text()))
    return write_new_key(path)


def signer_for(code: str, path: Path | None = None) -> JwsSigner:
    """The signer of hospital ``code``: its key file (default: the data dir's)."""
    found = path or key_path(data_dir(), code)
    if not found.exists():
        raise typer.BadParameter(
            f"no signing key at {found}: run `healthlink hospitals keygen {code}` first"
        )
    return JwsSigner.from_file(found)


def show(answer: dict[str, Any]) -> None:
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))


@app.command("keygen")
def keygen(
    code: str = typer.Argument(help="5-digit MOPH hospital code"),
    out: Annotated[
        Path | None, typer.Option(help="the private key file (default: data dir)")
    ] = None,
    url: str = UrlOption,
) -> None:
    """Make a signing key pair for the hospital: the private JWK written to a new file
    (mode 0600), the public half registered. An existing file is never overwritten."""
    path = out or key_path(data_dir(), code)
    if path.exists():
        raise typer.BadParameter(f"{path} exists: choose another file with --out")
    key = write_new_key(path)
    answer = call("POST", url, f"/hospitals/{code}/signing-keys", public_jwk(key))
    show({"private_key_file": str(path), "kid": key.kid, "hospital": answer})


@app.command("add-key")
def add_key(
    code: Annotated[str, typer.Argument(help="5-digit MOPH hospital code")],
    jwk_file: Annotated[
        Path, typer.Argument(help="the hospital's public JWK (EC P-256, with a kid)")
    ],
    url: str = UrlOption,
) -> None:
    """Register a public key the hospital made itself (a private key is refused)."""
    try:
        jwk = json.loads(jwk_file.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"{jwk_file}: not a readable JSON key") from exc
    show(call("POST", url, f"/hospitals/{code}/signing-keys", jwk))


@app.command("remove-key")
def remove_key(
    code: str = typer.Argument(help="5-digit MOPH hospital code"),
    kid: str = typer.Argument(help="the key's kid"),
    url: str = UrlOption,
) -> None:
    """Remove a signing key: uploads signed with it are set aside from the next one on."""
    show(call("DELETE", url, f"/hospitals/{code}/signing-keys/{kid}"))


@app.command("admin-key")
def admin_key(
    code: str = typer.Argument(help="5-digit MOPH hospital code"),
    url: str = UrlOption,
) -> None:
    """Rotate the hospital's admin key: the new one is printed once, the old one refused."""
    show(call("POST", url, f"/hospitals/{code}/admin-key"))
