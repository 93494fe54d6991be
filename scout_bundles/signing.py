"""ed25519 keys and detached signatures (``cryptography``).

The private key stays with whoever publishes (a PEM file written with mode
0600, or the ``SCOUT_MODELS_SIGNING_KEY`` environment variable); devices hold
public keys as ``ed25519:<base64>`` strings in their config. More than one
trusted key is allowed, so a new key can be rolled out before the old one
is retired. A signature names its key by id (the first 16 hex digits of the
public key's SHA-256).

>>> private = generate()
>>> public = public_text(private)
>>> sig = sign(private, b"manifest")
>>> verify(TrustedKeys.parse([public]), b"manifest", sig) == key_id(private.public_key())
True
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from scout_bundles.manifest import BundleError

PREFIX = "ed25519:"
KEY_ENV = "SCOUT_MODELS_SIGNING_KEY"


def generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def public_text(private: Ed25519PrivateKey) -> str:
    """The public key as devices configure it."""
    return PREFIX + base64.b64encode(_raw(private.public_key())).decode()


def write_private(private: Ed25519PrivateKey, path: Path) -> None:
    """PEM (PKCS#8), created with mode 0600; an existing file is never overwritten."""
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def load_private(path: Path | None) -> Ed25519PrivateKey:
    """The signing key from ``path``, else from ``$SCOUT_MODELS_SIGNING_KEY`` (PEM text)."""
    if path is not None:
        data = path.read_bytes()
    elif os.environ.get(KEY_ENV):
        data = os.environ[KEY_ENV].encode()
    else:
        raise BundleError(f"no signing key: pass --key FILE or set {KEY_ENV}")
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError("the signing key is not an ed25519 private key")
    return key


def sign(private: Ed25519PrivateKey, data: bytes) -> bytes:
    """The detached signature file's content for ``data``."""
    body = {"key_id": key_id(private.public_key()), "signature": base64.b64encode(private.sign(data)).decode()}
    return json.dumps(body).encode() + b"\n"


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys a device accepts, by key id."""

    keys: dict[str, Ed25519PublicKey]

    @classmethod
    def parse(cls, texts: list[str]) -> TrustedKeys:
        keys = {}
        for text in texts:
            if not text.startswith(PREFIX):
                raise ValueError(f"a trusted key must look like {PREFIX}<base64>, got {text[:20]!r}…")
            try:
                public = Ed25519PublicKey.from_public_bytes(base64.b64decode(text[len(PREFIX) :], validate=True))
            except ValueError as exc:
                raise ValueError(f"not an ed25519 public key: {text[:20]!r}…") from exc
            keys[key_id(public)] = public
        return cls(keys)


def verify(trusted: TrustedKeys, data: bytes, signature: bytes) -> str:
    """The id of the trusted key that signed ``data``; :class:`BundleError` otherwise."""
    try:
        body = json.loads(signature)
        kid, raw = str(body["key_id"]), base64.b64decode(body["signature"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError("the signature file is malformed") from exc
    public = trusted.keys.get(kid)
    if public is None:
        raise BundleError(f"signed by key {kid}, which this device does not trust")
    try:
        public.verify(raw, data)
    except InvalidSignature as exc:
        raise BundleError(f"bad signature (key {kid})") from exc
    return kid
