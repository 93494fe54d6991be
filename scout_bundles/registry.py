"""The bundle registry: a directory tree, served as is by any static HTTP server.

Layout::

    bundles/<name>/<name>-<version>.tar.gz
    channels/<channel>.json        which version of each bundle the channel carries
    channels/<channel>.json.sig    its signature (the same keys as the bundles)

A channel index is signed, so nobody who can write to the web server can
point devices at an old (signed, but withdrawn) version; its ``sequence``
only grows, and a device refuses an index older than one it has seen.
Devices read with :class:`Registry` (a path or an ``http(s)://`` URL);
publishing (:func:`publish`, :func:`set_channel`) writes a directory.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scout_bundles.files import resolve_inside, sha256_of, write_atomic
from scout_bundles.manifest import BundleError, Manifest, safe_relative
from scout_bundles.signing import TrustedKeys, sign, verify
from scout_bundles.versions import is_downgrade

MAX_INDEX_BYTES = 1 << 20


class ChannelEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    version: str
    kind: str
    archive: str
    sha256: str
    bytes: int
    #: set by :func:`set_channel` when the entry is lower than the one the channel carried: the signed
    #: permission for devices to move back to it (:mod:`scout_bundles.versions`); left out when false,
    #: so indexes without rollbacks read as before
    rollback: bool = False


class ChannelIndex(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    channel: str
    sequence: int
    updated_at: str
    bundles: dict[str, ChannelEntry] = {}
    format: int = 1


def index_path(channel: str) -> str:
    return f"channels/{safe_relative(channel)}.json"


class Registry:
    """Read access to a registry at a local path or an ``http(s)://`` URL."""

    def __init__(self, location: str, timeout_s: float = 30.0) -> None:
        self.location = location
        self.timeout_s = timeout_s
        self.is_http = location.startswith(("http://", "https://"))

    def _url(self, relative: str) -> str:
        return urllib.parse.urljoin(self.location.rstrip("/") + "/", safe_relative(relative))

    def _open(self, relative: str) -> BinaryIO:
        if self.is_http:
            try:
                response: BinaryIO = urllib.request.urlopen(self._url(relative), timeout=self.timeout_s)
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as exc:
                raise BundleError(f"cannot fetch {relative} from {self.location}: {error_line(exc)}") from exc
            return response
        try:
            path = resolve_inside(Path(self.location), relative)
        except ValueError as exc:  # a signed index naming a file outside the registry folder
            raise BundleError(f"{relative} is not in the registry {self.location}: {exc}") from exc
        if not path.is_file():
            raise BundleError(f"{relative} is not in the registry {self.location}")
        return path.open("rb")

    def fetch(self, relative: str, max_bytes: int) -> bytes:
        """The file at ``relative`` (at most ``max_bytes``)."""
        sink = io.BytesIO()
        with self._open(relative) as stream:
            _copy(stream, sink, max_bytes, relative)
        return sink.getvalue()

    def index(self, channel: str, trusted: TrustedKeys) -> ChannelIndex:
        data = self.fetch(index_path(channel), MAX_INDEX_BYTES)
        signature = self.fetch(index_path(channel) + ".sig", MAX_INDEX_BYTES)
        verify(trusted, data, signature)
        try:
            index = msgspec.json.decode(data, type=ChannelIndex)
        except msgspec.DecodeError as exc:
            raise BundleError(f"channel index {channel}: {exc}") from exc
        if index.channel != channel:  # another channel's signed index, served under this one's name
            raise BundleError(f"channel index {channel}: it is signed for channel {index.channel!r} (refused)")
        return index

    def download(self, entry: ChannelEntry, dest: Path, max_bytes: int) -> Path:
        """The archive of ``entry`` in ``dest``, its size and SHA-256 (hashed as it streams) as the index says."""
        if entry.bytes > max_bytes:
            raise BundleError(f"{entry.archive} is {entry.bytes:,} bytes, over the limit of {max_bytes:,}")
        try:
            with self._open(entry.archive) as stream, dest.open("wb") as out:
                size, digest = _copy(stream, out, max_bytes, entry.archive)
        except BundleError:
            dest.unlink(missing_ok=True)
            raise
        except OSError as exc:  # the device's own disk: full, read-only, gone
            dest.unlink(missing_ok=True)
            raise BundleError(f"{entry.archive}: cannot store the download: {error_line(exc)}") from exc
        if size != entry.bytes or digest != entry.sha256:
            raise BundleError(f"{entry.archive}: size or SHA-256 differs from the channel index")
        return dest


def _copy(stream: BinaryIO, sink: BinaryIO, max_bytes: int, what: str) -> tuple[int, str]:
    """Copy at most ``max_bytes``; returns the size and the SHA-256 of what was copied."""
    digest = hashlib.sha256()
    total = 0
    while True:
        try:
            block = stream.read(1 << 20)
        except (http.client.HTTPException, TimeoutError, OSError) as exc:  # a body cut short, a reset
            raise BundleError(f"{what}: the download broke off after {total:,} bytes: {error_line(exc)}") from exc
        if not block:
            break
        total += len(block)
        if total > max_bytes:
            raise BundleError(f"{what} is larger than the limit of {max_bytes:,} bytes")
        digest.update(block)
        sink.write(block)
    return total, digest.hexdigest()


def error_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line, whatever a server sent (an ``IncompleteRead`` would print the
    partial body)."""
    if isinstance(exc, http.client.IncompleteRead):
        return f"IncompleteRead after {len(exc.partial):,} bytes"
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:limit]


# ---- publishing (a directory) ------------------------------------------------
def read_channel(root: Path, channel: str) -> ChannelIndex:
    path = root / index_path(channel)
    if not path.exists():
        return ChannelIndex(channel=channel, sequence=0, updated_at="")
    return msgspec.json.decode(path.read_bytes(), type=ChannelIndex)


def set_channel(root: Path, channel: str, name: str, entry: ChannelEntry, private: Ed25519PrivateKey) -> ChannelIndex:
    """Point ``channel`` at ``entry`` for bundle ``name``; writes the index and then its signature. An
    entry lower than the one the channel carried is marked ``rollback`` (devices accept it as one)."""
    old = read_channel(root, channel)
    carried = old.bundles.get(name)
    rollback = carried is not None and is_downgrade(entry.version, carried.version)
    entry = msgspec.structs.replace(entry, rollback=rollback)
    index = ChannelIndex(
        channel=channel,
        sequence=old.sequence + 1,
        updated_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        bundles={**old.bundles, name: entry},
    )
    data = msgspec.json.format(msgspec.json.encode(index), indent=2) + b"\n"
    # a device that reads between the two renames sees a signature that does not match and tries again
    # at its next poll; it never acts on an index whose signature it has not checked
    write_atomic(root / (index_path(channel) + ".sig.new"), sign(private, data))
    write_atomic(root / index_path(channel), data)
    os.replace(root / (index_path(channel) + ".sig.new"), root / (index_path(channel) + ".sig"))
    return index


def publish(root: Path, archive: Path, manifest: Manifest, channel: str, private: Ed25519PrivateKey) -> ChannelEntry:
    """Copy the archive into the registry and point ``channel`` at it."""
    relative = f"bundles/{manifest.name}/{manifest.name}-{manifest.version}.tar.gz"
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = sha256_of(archive)
    if target.exists() and sha256_of(target) != digest:
        raise BundleError(f"{relative} already exists with other contents; publish a new version instead")
    shutil.copyfile(archive, target.with_name(target.name + ".tmp"))
    os.replace(target.with_name(target.name + ".tmp"), target)
    entry = ChannelEntry(
        version=manifest.version,
        kind=manifest.kind,
        archive=relative,
        sha256=digest,
        bytes=target.stat().st_size,
    )
    set_channel(root, channel, manifest.name, entry, private)
    return entry
