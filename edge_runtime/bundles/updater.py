"""The device's updater: poll the group's channel, fetch, verify, install, report.

Each poll reads the channel index (signature checked; an index older than one
already seen is refused), and for every bundle this device runs whose
channel version differs from the active one — and has not failed before —
downloads the archive (size limit, SHA-256 from the index), verifies it
(:func:`~scout_bundles.archive.verify_archive`) and installs it
(:meth:`~edge_runtime.bundles.store.ModelStore.install`), which swaps the
model in the running worker or rolls back. The last outcome goes into the
heartbeat.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import structlog

from edge_runtime.bundles.store import ModelStore, Outcome, Reload, not_installed
from scout_bundles.archive import verify_archive
from scout_bundles.files import write_atomic
from scout_bundles.manifest import BundleError
from scout_bundles.registry import Registry, error_line
from scout_bundles.signing import TrustedKeys
from scout_bundles.versions import downgrade_reason, is_downgrade

if TYPE_CHECKING:
    from edge_runtime.config import UpdatesConfig

log = structlog.get_logger(__name__)

#: Longest wait after consecutive failed polls, in poll intervals.
MAX_BACKOFF = 8
#: Longest reason the heartbeat carries for an update loop that ended (a failed poll's is shorter: 300).
MAX_REASON = 500


class SeenIndex(msgspec.Struct):
    sequence: int = 0


@dataclass
class Updater:
    registry: Registry
    channel: str
    trusted: TrustedKeys
    store_root: Path
    #: bundle name → how the running worker takes the new model
    bundles: dict[str, Reload]
    max_bytes: int
    keep: int = 3
    outcomes: list[Outcome] = field(default_factory=list)
    #: why :meth:`run` ended, if it ended other than by its stop event
    stopped_by: str | None = None

    @classmethod
    def from_config(cls, up: UpdatesConfig, bundles: dict[str, Reload]) -> Updater:
        """The updater ``[updates]`` describes (the agent's worker and ``scout-edge models update``)."""
        if not up.registry:
            raise BundleError("updates.registry is not set")
        return cls(Registry(up.registry), up.channel, up.trusted(), up.store, bundles, up.max_bytes, up.keep_versions)

    @property
    def last_outcome(self) -> str | None:
        return self.outcomes[-1].message if self.outcomes else None

    def _seen_path(self) -> Path:
        return self.store_root / f"channel-{self.channel}.json"

    def _seen(self) -> SeenIndex:
        """The newest index sequence this channel has accepted. A file that cannot be read (torn by a
        power cut before writes were atomic, or damaged) is reported and rebuilt from the next verified
        index, never fatal: the signature check still stands, only the replay guard restarts."""
        path = self._seen_path()
        if not path.exists():
            return SeenIndex()
        try:
            return msgspec.json.decode(path.read_bytes(), type=SeenIndex)
        except (msgspec.DecodeError, OSError) as exc:
            log.error("channel state unreadable; rebuilt from the next verified index", path=str(path), error=str(exc))
            return SeenIndex()

    def poll_once(self) -> list[Outcome]:
        """One check of the channel; returns what was installed or refused."""
        index = self.registry.index(self.channel, self.trusted)
        seen = self._seen()
        if index.sequence < seen.sequence:
            raise BundleError(
                f"channel {self.channel}: index sequence {index.sequence} is older than {seen.sequence} (refused)"
            )
        write_atomic(self._seen_path(), msgspec.json.encode(SeenIndex(index.sequence)))
        done: list[Outcome] = []
        for name, reload in self.bundles.items():
            entry = index.bundles.get(name)
            if entry is None:
                continue
            store = ModelStore(self.store_root, name, self.keep)
            current = store.current_version()
            if entry.version == current or entry.version in store.journal().failed:
                continue
            if is_downgrade(entry.version, current) and not entry.rollback:  # e.g. a replayed old index
                done.append(not_installed(name, entry.version, current, downgrade_reason(current)))  # no download
                continue
            with tempfile.TemporaryDirectory(dir=self.store_root) as tmp:
                archive = self.registry.download(entry, Path(tmp) / "bundle.tar.gz", self.max_bytes)
                try:
                    verified = verify_archive(archive, self.trusted, self.max_bytes)
                except BundleError as exc:
                    outcome = store.refuse(entry.version, str(exc))
                else:
                    m = verified.manifest
                    if (m.name, m.version, m.kind) != (name, entry.version, entry.kind):
                        # the index is wrong, not the (verified) archive: nothing is remembered as failed,
                        # so the version installs once the index is corrected
                        why = f"the archive holds {m.label} ({m.kind}), the index says {entry.version} ({entry.kind})"
                        outcome = not_installed(name, entry.version, current, why)
                    else:
                        outcome = store.install(verified, reload, allow_downgrade=entry.rollback)
            done.append(outcome)
        self.outcomes += done
        return done

    def run(self, stop: threading.Event, interval_s: float) -> None:
        """Poll until ``stop``. A failed poll — of *any* kind: network, signature, a broken HTTP
        response (``http.client.HTTPException`` is not an ``OSError``), a bug — is logged and reported
        in the heartbeat, then retried; consecutive failures back off (the interval doubled each time,
        at most :data:`MAX_BACKOFF` times it), a success resets it. If the loop itself ever ends other
        than by ``stop`` (only a ``BaseException`` can end it), :attr:`stopped_by` says why and the
        heartbeat reports it (:attr:`problem`)."""
        failures = 0
        try:
            while not stop.is_set():
                try:
                    self.poll_once()
                    failures = 0
                except Exception as exc:  # the loop must outlive any one poll
                    failures += 1
                    message = f"model update check failed: {error_line(exc)}"
                    if self.last_outcome != message:
                        self.outcomes.append(Outcome(False, message))
                    log.warning("model update check failed", channel=self.channel, error=message,
                                consecutive=failures)  # fmt: skip
                stop.wait(interval_s * min(2 ** max(failures - 1, 0), MAX_BACKOFF))
        except BaseException as exc:
            self.stopped_by = error_line(exc, MAX_REASON)
            log.error("model updater stopped", channel=self.channel, error=self.stopped_by)
            raise

    @property
    def problem(self) -> str | None:
        """What the heartbeat reports when the update loop ended by itself (``None`` otherwise)."""
        return f"model updater not running ({self.stopped_by})" if self.stopped_by else None
