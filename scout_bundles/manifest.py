"""A bundle's ``manifest.json``: what it holds and how to check it.

The device reads it only after its signature verified (:mod:`.archive`), and
then strictly: unknown fields, unsafe paths and impossible sizes are errors.

>>> m = Manifest(name="centerface", kind="detector", version="2.0.0", model="centerface.int8.onnx",
...              files=[BundleFile("centerface.int8.onnx", "0" * 64, 10)], created_at="2026-11-30T00:00:00Z")
>>> m.label
'centerface@2.0.0'
>>> decode_manifest(encode_manifest(m)) == m
True
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Literal

import msgspec

FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
#: Model files live under this folder of an archive and of an installed version.
FILES = "files"
Kind = Literal["detector", "vad", "stt"]
#: The heartbeat's ``models`` key for each kind (what the agent already reports).
MODEL_KEY: dict[str, str] = {"detector": "face", "vad": "vad", "stt": "stt"}
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class BundleError(ValueError):
    """A bundle that must not be installed: bad signature, hash, path, size, shape."""


class BundleFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One file of the bundle, relative to ``files/``."""

    path: str
    sha256: str
    bytes: int


class Health(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The health check: the model run on ``inputs`` must give ``expected`` (both ``.npz`` in the bundle).

    For an ``stt`` bundle (a Vosk model directory) ``inputs`` is a WAV file and ``expected`` a text file.
    """

    inputs: str
    expected: str
    #: at most :data:`MAX_ATOL` / :data:`MAX_RTOL` (a signed bundle cannot make its own check pass anything)
    atol: float = 1e-4
    rtol: float = 1e-3


#: The loosest tolerances a health check may declare: the expected outputs are the same model's, so a
#: tolerance only absorbs floating-point differences between machines (docs/models.md).
MAX_ATOL = 0.05
MAX_RTOL = 0.1


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: str
    kind: Kind
    version: str
    #: The model: a file (ONNX) or a directory (Vosk), relative to ``files/``.
    model: str
    files: list[BundleFile]
    created_at: str
    format: int = FORMAT
    input: dict[str, Any] = {}
    quantization: str | None = None
    evaluation: dict[str, Any] | None = None
    health: Health | None = None
    min_agent_version: str = "0.1.0"

    @property
    def label(self) -> str:
        """How heartbeats report this model: ``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


def safe_relative(path: str) -> str:
    """A relative POSIX path that stays in its folder (no ``..``, no absolute, no backslash, no empty part).

    >>> safe_relative("model/am/final.mdl")
    'model/am/final.mdl'
    >>> safe_relative("../x")
    Traceback (most recent call last):
    ...
    scout_bundles.manifest.BundleError: unsafe path '../x'
    """
    p = PurePosixPath(path)
    if (
        not path
        or "\\" in path
        or "\x00" in path
        or p.is_absolute()
        or any(part in {"", ".", ".."} for part in path.split("/"))
    ):
        raise BundleError(f"unsafe path {path!r}")
    return path


#: A channel name (it names files: ``channels/<channel>.json`` and the device's ``channel-<channel>.json``).
_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str) -> str:
    """A bundle name, or :class:`BundleError`: lower-case letters, digits, ``_`` and ``-`` only (it names
    folders: no separator, no ``..``).

    >>> check_name("centerface")
    'centerface'
    >>> check_name("../../etc")
    Traceback (most recent call last):
    ...
    scout_bundles.manifest.BundleError: bad bundle name '../../etc'
    """
    if not _NAME.match(name):
        raise BundleError(f"bad bundle name {name!r}")
    return name


def check_channel(name: str) -> str:
    """A channel name, or :class:`BundleError` (letters, digits, ``_``, ``.``, ``-``; no separator, no ``..``)."""
    if not _CHANNEL.match(name) or ".." in name:
        raise BundleError(f"bad channel name {name!r}")
    return name


def validate(m: Manifest, max_bytes: int) -> Manifest:
    """Shape checks beyond the types (the signature was checked before this is called)."""
    if m.format != FORMAT:
        raise BundleError(f"bundle format {m.format} is not {FORMAT}")
    check_name(m.name)
    if not _VERSION.match(m.version):
        raise BundleError(f"bad bundle version {m.version!r}")
    paths = [safe_relative(f.path) for f in m.files]
    if len(set(paths)) != len(paths):
        raise BundleError("a file is listed twice")
    if not m.files or any(f.bytes < 0 or not re.fullmatch(r"[0-9a-f]{64}", f.sha256) for f in m.files):
        raise BundleError("file list is empty or has a bad size or sha256")
    if m.total_bytes > max_bytes:
        raise BundleError(f"bundle holds {m.total_bytes:,} bytes, over the limit of {max_bytes:,}")
    model = safe_relative(m.model.rstrip("/"))
    if not any(p == model or p.startswith(model + "/") for p in paths):
        raise BundleError(f"the model {m.model!r} is not among the files")
    if m.health is not None:
        for p in (m.health.inputs, m.health.expected):
            if safe_relative(p) not in paths:
                raise BundleError(f"health file {p!r} is not among the files")
        if not (0 <= m.health.atol <= MAX_ATOL and 0 <= m.health.rtol <= MAX_RTOL):  # NaN fails too
            raise BundleError(
                f"health tolerances atol={m.health.atol} rtol={m.health.rtol} are beyond the caps "
                f"(atol ≤ {MAX_ATOL}, rtol ≤ {MAX_RTOL})"
            )
    return m


_encoder = msgspec.json.Encoder(order="deterministic")
_decoder = msgspec.json.Decoder(Manifest)


def encode_manifest(m: Manifest) -> bytes:
    return msgspec.json.format(_encoder.encode(m), indent=2) + b"\n"


def decode_manifest(data: bytes) -> Manifest:
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise BundleError(f"manifest: {exc}") from exc
