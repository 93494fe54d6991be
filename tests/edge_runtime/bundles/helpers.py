"""Tampering with a real, signed bundle archive: rebuild it with changed members."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scout_bundles.manifest import BundleFile, decode_manifest, encode_manifest
from scout_bundles.signing import sign


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isreg()
        }


def rebuild(out: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return out


def resign(files: dict[str, bytes], key: Ed25519PrivateKey, **changes: object) -> dict[str, bytes]:
    """Change the manifest of a member dict (its file list follows the files given) and sign it again:
    a bundle that verifies, whatever was changed in it."""
    manifest = decode_manifest(files["manifest.json"])
    listed = [
        BundleFile(name.removeprefix("files/"), hashlib.sha256(data).hexdigest(), len(data))
        for name, data in sorted(files.items())
        if name.startswith("files/")
    ]
    data = encode_manifest(msgspec.structs.replace(manifest, files=listed, **changes))
    return files | {"manifest.json": data, "manifest.sig": sign(key, data)}
