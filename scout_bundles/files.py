"""File primitives both halves use on bundles: a file's SHA-256, and paths that must stay in their folder.

>>> resolve_inside(Path("/models"), "face/int8.onnx").as_posix()
'/models/face/int8.onnx'
>>> resolve_inside(Path("/models"), "../etc/passwd")
Traceback (most recent call last):
...
ValueError: path '../etc/passwd' escapes /models
"""

from __future__ import annotations

import hashlib
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
