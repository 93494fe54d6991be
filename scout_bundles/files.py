"""File primitives both halves use on bundles: a file's SHA-256, paths that must stay in their folder, and
files written atomically (a registry's channel index, a device's state files).

>>> resolve_inside(Path("/models"), "face/int8.onnx").as_posix()
'/models/face/int8.onnx'
>>> resolve_inside(Path("/models"), "../etc/passwd")
Traceback (most recent call last):
...
ValueError: path '../etc/passwd' escapes /models
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def resolve_inside(base: Path, relative: str | Path) -> Path:
    """``base / relative``, refusing absolute paths and ``..`` that leave ``base``."""
    rel = Path(relative)
    root = base.resolve()
    target = (root / rel).resolve()
    if rel.is_absolute() or not target.is_relative_to(root):
        raise ValueError(f"path {str(relative)!r} escapes {base}")
    return target


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` so that a crash or a power cut leaves the old file or the new one, never a torn
    one: a temporary file beside it, fsync, rename over the old one, fsync of the folder (created if
    missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
