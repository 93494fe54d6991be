"""Bundle version order, for the downgrade rule (docs/models.md, "Downgrades").

A device never moves to a lower version of a bundle unless the move is an explicit rollback: a channel
entry that its signed index marks ``rollback`` (``set_channel`` marks an entry lower than the one the
channel carried), or ``scout-edge models install --allow-downgrade`` by hand. Versions are ordered as
PEP 440 orders them; a version it cannot read is not ordered, so no move to or from it counts as a
downgrade.

>>> is_downgrade("1.0.0", "2.0.0"), is_downgrade("2.0.1", "2.0.0"), is_downgrade("1.0.0", None)
(True, False, False)
>>> is_downgrade("build-7", "2.0.0")  # not a version PEP 440 can order
False
"""

from __future__ import annotations

from packaging.version import InvalidVersion, Version


def is_downgrade(new: str, current: str | None) -> bool:
    """Whether ``new`` is a lower version than ``current``."""
    if current is None:
        return False
    try:
        return Version(new) < Version(current)
    except InvalidVersion:
        return False


def downgrade_reason(current: str | None) -> str:
    """Why a move below ``current`` is refused, in the device's words."""
    return f"a downgrade from {current} that is not a signed rollback (or --allow-downgrade by hand)"
