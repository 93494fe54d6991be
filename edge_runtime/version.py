"""The agent's own version, and whether it is new enough for a bundle (``min_agent_version``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.version import InvalidVersion, Version


def software_version() -> str:
    """The installed scout-stream version (``0+unknown`` when it is not installed as a package)."""
    try:
        return version("scout-stream")
    except PackageNotFoundError:
        return "0+unknown"


def too_old_for(minimum: str) -> str | None:
    """Why this agent cannot run a bundle that needs agent ``minimum`` or newer (``None``: it can).

    >>> too_old_for("0.0.1") is None
    True
    >>> too_old_for("99.0")
    'it needs agent 99.0 or newer, this agent is ...'
    """
    try:
        needed = Version(minimum)
    except InvalidVersion:
        return f"its min_agent_version {minimum!r} is not a version"
    mine = software_version()
    return None if Version(mine) >= needed else f"it needs agent {minimum} or newer, this agent is {mine}"
