"""Bundle archives: ``manifest.json``, ``manifest.sig`` and ``files/…`` in a gzipped tar.

:func:`verify_archive` reads the archive without writing anything: every
member must be a regular file (or a folder) at a safe path, the signature
must verify with a trusted key, and the files must be exactly the manifest's
— none extra, none missing, each of the declared size and SHA-256 — before
:func:`unpack` writes a byte. :func:`unpack` hashes again while it writes
(the archive could change between the two passes) and never follows a link.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scout_bundles.files import sha256_of
from scout_bundles.manifest import (
    FILES,
    MANIFEST,
    SIGNATURE,
    BundleError,
    BundleFile,
    Manifest,
    decode_manifest,
    encode_manifest,
    safe_relative,
    validate,
)
from scout_bundles.signing import TrustedKeys, sign, verify

#: The manifest and its signature are small; a bigger member under these names is refused unread.
MAX_META_BYTES = 1 << 20
CHUNK = 1 << 20


@dataclass(frozen=True)
class Verified:
    """An archive whose signature and every file checked out."""

    path: Path
    manifest: Manifest
    manifest_bytes: bytes
    signature: bytes
    key_id: str


def describe_files(root: Path) -> list[BundleFile]:
    """Every regular file under ``root`` with its hash and size (symlinks refused)."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            raise BundleError(f"{path} is a symbolic link; a bundle holds regular files only")
        if path.is_file():
            found.append(BundleFile(path.relative_to(root).as_posix(), sha256_of(path), path.stat().st_size))
    return found


def pack(root: Path, manifest: Manifest, private: Ed25519PrivateKey, out: Path) -> Path:
    """Write the signed archive for the files under ``root`` (which must be the manifest's files)."""
    if sorted(describe_files(root), key=lambda f: f.path) != sorted(manifest.files, key=lambda f: f.path):
        raise BundleError("the files under the folder are not the manifest's")
    data = encode_manifest(manifest)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, blob in ((MANIFEST, data), (SIGNATURE, sign(private, data))):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(blob), 0o644
            tar.addfile(info, io.BytesIO(blob))
        for f in sorted(manifest.files, key=lambda f: f.path):
            info = tar.gettarinfo(str(root / f.path), arcname=f"{FILES}/{f.path}")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o644
            with (root / f.path).open("rb") as fh:
                tar.addfile(info, fh)
    os.replace(tmp, out)
    return out


#: Caps checked on the raw tar headers before ``tarfile`` parses any (it reads a PAX or GNU long-name
#: header whole into memory, and walks every member): an unsigned archive is refused cheaply.
MAX_HEADER_BYTES = 64 << 10
MAX_MEMBERS = 10_000
MAX_NAME_CHARS = 1_024
#: The longest reason a refusal records or prints (a name from a hostile archive can be megabytes).
MAX_REASON_CHARS = 500
_EXTENDED = {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, b"X"}


def prescan(path: Path) -> None:
    """Walk the archive's raw 512-byte headers (decompressing, never holding more than a block) and
    refuse, before ``tarfile`` parses anything, an extended header over :data:`MAX_HEADER_BYTES`, more
    than :data:`MAX_MEMBERS` entries, or a name over :data:`MAX_NAME_CHARS` characters."""
    import gzip

    members = 0
    with gzip.open(path, "rb") as raw:
        while True:
            block = raw.read(tarfile.BLOCKSIZE)
            if len(block) < tarfile.BLOCKSIZE or block == tarfile.NUL * tarfile.BLOCKSIZE:
                return  # the end (or a truncated archive, which tarfile reports)
            try:
                header = tarfile.TarInfo.frombuf(block, tarfile.ENCODING, "surrogateescape")
            except tarfile.HeaderError as exc:
                raise BundleError(f"not a readable bundle archive: {exc}") from exc
            members += 1
            if members > MAX_MEMBERS:
                raise BundleError(f"the archive has more than {MAX_MEMBERS:,} entries")
            if header.type in _EXTENDED and header.size > MAX_HEADER_BYTES:
                raise BundleError(f"an extended tar header of {header.size:,} bytes (at most {MAX_HEADER_BYTES:,})")
            if len(header.name) > MAX_NAME_CHARS:
                raise BundleError(f"an entry name of {len(header.name):,} characters")
            left = -(-header.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
            while left > 0:  # skip the data, a block at a time
                chunk = raw.read(min(left, 1 << 20))
                if not chunk:
                    return
                left -= len(chunk)


def short_reason(reason: str) -> str:
    """A refusal's reason, at most :data:`MAX_REASON_CHARS` characters."""
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


def _members(tar: tarfile.TarFile, max_bytes: int) -> dict[str, tarfile.TarInfo]:
    """Regular files by name; anything else that could write outside a folder is refused.

    Members are read one header at a time, so an entry declaring more than ``max_bytes`` (in all)
    stops the read before its data is decompressed (a gzip bomb costs nothing).
    """
    files: dict[str, tarfile.TarInfo] = {}
    total = 0
    for member in tar:
        total += member.size
        if total > max_bytes:
            raise BundleError(f"the archive unpacks to more than the limit of {max_bytes:,} bytes")
        name = member.name.removeprefix("./")
        safe_relative(name.rstrip("/"))
        if member.isdir():
            continue
        if not member.isreg():
            kind = "link" if member.issym() or member.islnk() else "special file"
            raise BundleError(f"{name!r} is a {kind}; a bundle holds regular files only")
        if name in files:
            raise BundleError(f"{name!r} appears twice in the archive")
        if name not in (MANIFEST, SIGNATURE) and not name.startswith(FILES + "/"):
            raise BundleError(f"unexpected entry {name!r} (files belong under {FILES}/)")
        files[name] = member
    return files


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo | None, what: str) -> bytes:
    if member is None:
        raise BundleError(f"the archive has no {what}")
    if member.size > MAX_META_BYTES:
        raise BundleError(f"{what} is {member.size:,} bytes, over {MAX_META_BYTES:,}")
    stream = tar.extractfile(member)
    assert stream is not None
    return stream.read()


def _digest(tar: tarfile.TarFile, member: tarfile.TarInfo, sink: io.BufferedWriter | None = None) -> str:
    stream = tar.extractfile(member)
    assert stream is not None
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(CHUNK), b""):
        digest.update(block)
        if sink is not None:
            sink.write(block)
    return digest.hexdigest()


def _check_files(files: dict[str, tarfile.TarInfo], manifest: Manifest) -> None:
    listed = {f"{FILES}/{f.path}": f for f in manifest.files}
    present = {n for n in files if n not in (MANIFEST, SIGNATURE)}
    if extra := sorted(present - listed.keys()):
        raise BundleError(f"files not in the manifest: {extra[:5]}")
    if missing := sorted(listed.keys() - present):
        raise BundleError(f"files missing from the archive: {missing[:5]}")
    for name, f in listed.items():
        if files[name].size != f.bytes:
            raise BundleError(f"{f.path}: {files[name].size:,} bytes, the manifest says {f.bytes:,}")


def verify_archive(path: Path, trusted: TrustedKeys, max_bytes: int) -> Verified:
    """Check everything about the archive at ``path`` without writing anything."""
    if path.is_symlink() or not path.is_file():
        raise BundleError(f"{path} is not a regular file")
    if path.stat().st_size > max_bytes:
        raise BundleError(f"the archive is {path.stat().st_size:,} bytes, over the limit of {max_bytes:,}")
    try:
        prescan(path)
        with tarfile.open(path, "r:gz") as tar:
            files = _members(tar, max_bytes)
            data = _read_small(tar, files.get(MANIFEST), MANIFEST)
            signature = _read_small(tar, files.get(SIGNATURE), SIGNATURE)
            kid = verify(trusted, data, signature)
            manifest = validate(decode_manifest(data), max_bytes)
            _check_files(files, manifest)
            for f in manifest.files:
                if _digest(tar, files[f"{FILES}/{f.path}"]) != f.sha256:
                    raise BundleError(f"{f.path}: SHA-256 differs from the manifest")
    except (tarfile.TarError, EOFError, OSError, UnicodeError) as exc:
        raise BundleError(short_reason(f"not a readable bundle archive: {exc}")) from exc
    except BundleError as exc:
        raise BundleError(short_reason(str(exc))) from exc
    return Verified(path, manifest, data, signature, kid)


def unpack(verified: Verified, dest: Path) -> None:
    """Write the verified archive's files under ``dest`` (which must not exist), hashing them again."""
    dest.mkdir(parents=True)
    (dest / MANIFEST).write_bytes(verified.manifest_bytes)
    (dest / SIGNATURE).write_bytes(verified.signature)
    expected = {f"{FILES}/{f.path}": f for f in verified.manifest.files}
    with tarfile.open(verified.path, "r:gz") as tar:
        files = _members(tar, verified.manifest.total_bytes + 2 * MAX_META_BYTES)
        for name, f in expected.items():
            target = dest / FILES / safe_relative(f.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out:
                if _digest(tar, files[name], out) != f.sha256:
                    raise BundleError(f"{f.path}: the archive changed while it was unpacked")
                out.flush()
                os.fsync(out.fileno())
