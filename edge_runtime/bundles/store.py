"""Installed versions of one bundle on the device, the ``current`` symlink, and the journal.

Layout under ``<store root>/<bundle name>/``::

    versions/<version>/manifest.json, manifest.sig, files/…
    current -> versions/<version>          (swapped with one rename)
    state.json                             (the journal: current, previous, pending, failed)

An install writes ``pending`` to the journal first, unpacks into a staging
folder, runs the health check there, renames it into ``versions/``, swaps
``current`` (a new symlink renamed over the old one: atomic), lets the
running worker load the new model, then clears ``pending``. Any failure puts
``current`` back. A start that finds ``pending`` set (the agent died
mid-update) puts ``current`` back to the previous version and removes the
unfinished one: :meth:`ModelStore.resolve`. A version that failed its checks
is remembered and not installed again; one interrupted twice counts as failed.

Installs and start-up resolution hold an exclusive ``flock`` on ``.lock`` in
the bundle's folder, so the agent's updater and a by-hand ``scout-edge models
install`` never interleave; reading (``status``) takes no lock and changes
nothing.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import structlog

from edge_runtime.version import too_old_for
from scout_bundles import health
from scout_bundles.archive import Verified, unpack
from scout_bundles.files import fsync_dir, write_atomic
from scout_bundles.manifest import FILES, MANIFEST, BundleError, Manifest, check_name, decode_manifest
from scout_bundles.versions import downgrade_reason, is_downgrade

log = structlog.get_logger(__name__)
STAGING_PREFIX = ".staging-"
MAX_INTERRUPTED = 2


class Pending(msgspec.Struct, kw_only=True):
    version: str
    previous: str | None
    attempts: int = 1


class Journal(msgspec.Struct, kw_only=True):
    current: str | None = None
    previous: str | None = None
    pending: Pending | None = None
    failed: list[str] = []
    last_outcome: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What an install or a start-up resolution did, in words for the heartbeat."""

    ok: bool
    message: str


#: Called with the new version's folder and manifest once ``current`` points at it; raising rolls back.
Reload = Callable[[Path, Manifest], None]


def not_installed(name: str, version: str, current: str | None, why: str) -> Outcome:
    """The outcome of a version that is not installed and not remembered as failed (a downgrade that is
    no signed rollback; an index that names the archive wrongly): it may install once that changes."""
    log.warning("model bundle not installed", bundle=name, version=version, reason=why)
    return Outcome(False, f"{name} {version}: refused, {current or 'no bundle'} stays active: {why}")


class ModelStore:
    def __init__(self, root: Path, name: str, keep: int = 3) -> None:
        """Nothing is created until something is written (a read-only command leaves no trace)."""
        self.dir = root / check_name(name)
        self.name = name
        self.versions = self.dir / "versions"
        self.link = self.dir / "current"
        self.journal_path = self.dir / "state.json"
        self.keep = max(2, keep)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The store's lock, for every change (the folders are created here, on the first one)."""
        self.versions.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # ---- journal ---------------------------------------------------------
    def journal(self) -> Journal:
        if not self.journal_path.exists():
            return Journal()
        try:
            return msgspec.json.decode(self.journal_path.read_bytes(), type=Journal)
        except msgspec.DecodeError:
            log.error("model journal unreadable; starting a new one", path=str(self.journal_path))
            return Journal(current=self.current_version())

    def _save(self, journal: Journal) -> None:
        write_atomic(self.journal_path, msgspec.json.encode(journal))

    # ---- current ---------------------------------------------------------
    def current_version(self) -> str | None:
        if not self.link.is_symlink():
            return None
        return Path(os.readlink(self.link)).name

    def current_dir(self) -> Path | None:
        version = self.current_version()
        return self.versions / version if version and (self.versions / version).is_dir() else None

    def current_manifest(self) -> Manifest | None:
        folder = self.current_dir()
        return decode_manifest((folder / MANIFEST).read_bytes()) if folder else None

    def model_path(self) -> Path | None:
        manifest, folder = self.current_manifest(), self.current_dir()
        return folder / FILES / manifest.model if manifest and folder else None

    def _point(self, version: str | None) -> None:
        """Make ``current`` name ``version`` (or nothing) with one rename."""
        if version is None:
            self.link.unlink(missing_ok=True)
        else:
            tmp = self.dir / "current.tmp"
            tmp.unlink(missing_ok=True)
            os.symlink(Path("versions") / version, tmp)
            os.replace(tmp, self.link)
        fsync_dir(self.dir)

    # ---- start-up --------------------------------------------------------
    def resolve(self) -> Outcome | None:
        """Finish what a crash left: an unfinished update is rolled back; staging folders are removed."""
        with self._exclusive():
            return self._resolve()

    def _resolve(self) -> Outcome | None:
        journal = self.journal()
        for leftover in self.versions.glob(STAGING_PREFIX + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
        pending = journal.pending
        if pending is None:
            return None
        self._point(pending.previous)
        if pending.version != pending.previous:
            shutil.rmtree(self.versions / pending.version, ignore_errors=True)
        journal.current, journal.pending = pending.previous, None
        if pending.attempts >= MAX_INTERRUPTED:
            journal.failed.append(pending.version)
        message = (
            f"{self.name} {pending.version}: update interrupted (attempt {pending.attempts}); "
            f"rolled back to {pending.previous or 'no bundle'}"
        )
        journal.last_outcome = message
        self._save(journal)
        log.warning("model update rolled back on start", bundle=self.name, version=pending.version)
        return Outcome(False, message)

    # ---- install ---------------------------------------------------------
    def install(self, verified: Verified, reload: Reload | None = None, allow_downgrade: bool = False) -> Outcome:
        """Install, health-check, swap, reload; roll back on any failure. Never raises for a bad bundle.
        A version lower than the current one is refused unless ``allow_downgrade`` (a signed rollback
        entry, or ``--allow-downgrade`` by hand): nothing is unpacked and nothing is remembered."""
        with self._exclusive():
            return self._install(verified, reload, allow_downgrade)

    def _install(self, verified: Verified, reload: Reload | None, allow_downgrade: bool = False) -> Outcome:
        manifest = verified.manifest
        if manifest.name != self.name:
            raise ValueError(f"bundle {manifest.name!r} given to the store of {self.name!r}")
        journal = self.journal()
        previous = self.current_version()
        version = manifest.version
        if version == previous:
            return Outcome(True, f"{self.name} {version}: already active")
        if (too_old := too_old_for(manifest.min_agent_version)) is not None:  # before anything is unpacked
            return self._refuse(version, too_old)
        if not allow_downgrade and is_downgrade(version, previous):
            return not_installed(self.name, version, previous, downgrade_reason(previous))
        attempts = journal.pending.attempts + 1 if journal.pending and journal.pending.version == version else 1
        journal.pending = Pending(version=version, previous=previous, attempts=attempts)
        self._save(journal)
        staging = self.versions / f"{STAGING_PREFIX}{version}"
        target = self.versions / version
        swapped = False
        try:
            shutil.rmtree(staging, ignore_errors=True)
            unpack(verified, staging)
            checked = health.check(staging, manifest)
            fsync_dir(staging)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(staging, target)
            fsync_dir(self.versions)
            self._point(version)
            swapped = True
            if reload is not None:
                reload(target, manifest)
        except Exception as exc:
            if swapped:
                self._point(previous)
            shutil.rmtree(staging, ignore_errors=True)
            if previous != version:
                shutil.rmtree(target, ignore_errors=True)
            reason = str(exc) if isinstance(exc, BundleError) else f"{type(exc).__name__}: {exc}"
            message = f"{self.name} {version}: rejected, {previous or 'no bundle'} stays active: {reason}"
            journal.pending = None
            journal.failed.append(version)
            journal.last_outcome = message
            self._save(journal)
            log.error("model update rolled back", bundle=self.name, version=version, reason=reason)
            return Outcome(False, message)
        journal.current, journal.previous, journal.pending = version, previous, None
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        journal.last_outcome = f"{self.name} {version}: installed at {stamp} ({checked})"
        self._save(journal)
        self.prune(keep_also={version, previous})
        log.info("model updated", bundle=self.name, version=version, previous=previous)
        return Outcome(True, journal.last_outcome)

    def refuse(self, version: str, reason: str) -> Outcome:
        """Record a version that failed verification before anything was unpacked (never retried)."""
        with self._exclusive():
            return self._refuse(version, reason)

    def _refuse(self, version: str, reason: str) -> Outcome:
        journal = self.journal()
        message = f"{self.name} {version}: rejected, {self.current_version() or 'no bundle'} stays active: {reason}"
        journal.failed.append(version)
        journal.last_outcome = message
        self._save(journal)
        log.error("model bundle refused", bundle=self.name, version=version, reason=reason)
        return Outcome(False, message)

    def prune(self, keep_also: set[str | None]) -> list[str]:
        """Remove all but the newest ``keep`` versions (never the current or previous one)."""
        versions = sorted(
            (p for p in self.versions.iterdir() if p.is_dir() and not p.name.startswith(STAGING_PREFIX)),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        removed = []
        for old in versions[self.keep :]:
            if old.name not in keep_also:
                shutil.rmtree(old, ignore_errors=True)
                removed.append(old.name)
        return removed
