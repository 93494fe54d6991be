"""Exit codes of ``scout`` and the one error base class that carries its code.

Every failure the CLI turns into one line on stderr is a :class:`ScoutError`
(the CLI's handler imports only this module, not each error class); the
table of codes is in the README.

>>> class Refused(ScoutError):
...     exit_code, label = Exit.WAREHOUSE, "warehouse error"
>>> ScoutError.in_chain(RuntimeError("a step failed")) is None
True
>>> try:
...     try:
...         raise Refused("disk full")
...     except Refused as inner:
...         raise RuntimeError("a Bytewax step failed") from inner
... except RuntimeError as outer:
...     found = ScoutError.in_chain(outer)
>>> found.exit_code, found.label, str(found)
(<Exit.WAREHOUSE: 4>, 'warehouse error', 'disk full')
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class Exit(IntEnum):
    """Process exit codes of ``scout`` (documented in the README)."""

    OK = 0
    DIFFERENT = 1
    USAGE = 2
    QUALITY_RULE = 3
    WAREHOUSE = 4
    SOURCE = 5
    GRAFANA = 6
    INTERRUPTED = 130


#: When one failure's chain holds several errors, the code that wins (a rule's stop names the
#: record; a warehouse failure explains a failed step better than the step's own error).
_PRECEDENCE = (Exit.QUALITY_RULE, Exit.WAREHOUSE, Exit.USAGE, Exit.SOURCE)


class ScoutError(Exception):
    """A failure with its exit code and the label of its one-line message."""

    exit_code: ClassVar[Exit] = Exit.USAGE
    label: ClassVar[str] = "error"

    @staticmethod
    def in_chain(exc: BaseException) -> ScoutError | None:
        """The error of an exception's chain that decides the exit (Bytewax wraps errors raised in steps)."""
        found: list[ScoutError] = []
        seen: BaseException | None = exc
        visited: set[int] = set()
        while seen is not None and id(seen) not in visited:
            if isinstance(seen, ScoutError):
                found.append(seen)
            visited.add(id(seen))
            seen = seen.__cause__ or seen.__context__
        rank = {code: i for i, code in enumerate(_PRECEDENCE)}
        return min(found, key=lambda e: rank.get(e.exit_code, len(rank)), default=None)


class UsageError(ScoutError, ValueError):
    """A flag or setting that cannot be used (exit 2)."""


class RecoveryStateError(ScoutError, RuntimeError):
    """A recovery directory whose state this version cannot resume (exit 2)."""
