"""Ed25519 signatures on release manifests: a partner can tell a release came from the lake.

The hash chain (LATEST and each manifest's ``parent_manifest_sha256``) catches a manifest
changed by accident; anyone who can write to the lake could rewrite the chain too. With a
signing key, publishing writes ``releases/<id>/manifest.json.sig`` (the Ed25519 signature of
the manifest's exact bytes) before the commit, so every committed release is signed. The
private key stays with the lake's operators (``TELEOP_LAKE_SIGNING_KEY``: a PEM file, never
in the lake); partners hold the public key they were given and check it with
``teleop-lake release verify --public-key`` or ``open_release(..., public_key=...)``.

``teleop-lake keys new`` makes a key pair.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from teleop_lake.lake.storage import Store

SIGNING_KEY_ENV = "TELEOP_LAKE_SIGNING_KEY"
SIGNATURE_SUFFIX = ".sig"


class SignatureError(RuntimeError):
    """A release manifest is unsigned, or its signature does not match the key given."""


def new_key_pair(out_dir: Path) -> tuple[Path, Path]:
    """Write ``release-signing.key`` (private, mode 0600) and ``release-signing.pub``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = out_dir / "release-signing.key"
    public = out_dir / "release-signing.pub"
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def signing_key_from_env() -> Ed25519PrivateKey | None:
    """The key named by ``TELEOP_LAKE_SIGNING_KEY`` (None: releases are not signed)."""
    path = os.environ.get(SIGNING_KEY_ENV)
    if not path:
        return None
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as err:
        raise SignatureError(f"{SIGNING_KEY_ENV}={path}: not a readable PEM key ({err})") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{SIGNING_KEY_ENV}={path} is not an Ed25519 key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as err:
        raise SignatureError(f"{path}: not a readable PEM public key ({err})") from err
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path} is not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, manifest: bytes) -> bytes:
    return key.sign(manifest)


def check(
    public_key: Ed25519PublicKey, manifest: bytes, signature: bytes | None, what: str
) -> None:
    """Raise `SignatureError` unless ``signature`` signs ``manifest`` with ``public_key``."""
    if signature is None:
        raise SignatureError(f"{what} is not signed (no {SIGNATURE_SUFFIX} file)")
    try:
        public_key.verify(signature, manifest)
    except InvalidSignature as err:
        raise SignatureError(
            f"{what}: the signature does not match the manifest and the public key given "
            "(changed after signing, or signed with another key)"
        ) from err


def check_manifest(lake: Store, manifest_path: str, public_key: str | Path, what: str) -> None:
    """Raise `SignatureError` unless the manifest at ``manifest_path`` carries a valid
    signature of ``public_key`` (a PEM file)."""
    sig_path = f"{manifest_path}{SIGNATURE_SUFFIX}"
    signature = lake.read_bytes(sig_path) if lake.exists(sig_path) else None
    check(load_public_key(public_key), lake.read_bytes(manifest_path), signature, what)
