"""The agent as a systemd service on the Pi (docs/edge.md, "Running as a service").

:func:`render_unit` writes ``scout-edge.service``: a dedicated user in the ``video`` and ``audio``
groups, ``Type=notify`` with a watchdog, restarts on failure (not on a configuration error, exit 2),
a read-only system with two writable state folders — the outbox and the bundle store, created by
systemd under ``/var/lib/scout-edge`` and named in the service's own ``edge.toml``
(:func:`service_config`), so that a command an operator runs with that file (``scout-edge models
install --config /etc/scout-edge/edge.toml``) acts on what the service uses — and logs to the
journal. :class:`ServiceNotifier` tells systemd when the agent is ready, feeds the watchdog while no
running capture loop is stuck, and says when it stops (sd_notify through the ``sdnotify`` library;
outside systemd it does nothing).

Bookworm's systemd (252) has no ``RestartSteps``: the back-off is a fixed ``RestartSec`` with a start
limit; the agent's own supervisor restarts a failing capture worker with an exponential back-off
(1 s to 5 min) inside one process, which is the usual case (a camera unplugged).
"""

from __future__ import annotations

import os
import time
import tomllib
from pathlib import Path

import sdnotify
import tomli_w

UNIT_NAME = "scout-edge.service"
#: The service's state, under ``/var/lib`` (``StateDirectory``): only these folders are writable.
STATE_DIR = Path("/var/lib/scout-edge")
OUTBOX_DIR, BUNDLE_DIR = STATE_DIR / "outbox", STATE_DIR / "bundles"
#: systemd kills (and then restarts) the agent when it has not fed the watchdog for this long.
WATCHDOG_S = 60


def render_unit(exec_path: Path, config: Path, user: str = "scout-edge") -> str:
    """The unit file for ``exec_path run --config config`` as ``user``."""
    state = " ".join(str(p.relative_to("/var/lib")) for p in (OUTBOX_DIR, BUNDLE_DIR))
    return f"""\
[Unit]
Description=Scout stream edge agent (camera and microphone -> events -> outbox -> Kafka)
Wants=network-online.target
After=network-online.target sound.target
StartLimitIntervalSec=600
StartLimitBurst=20

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_path} run --config {config}
User={user}
Group={user}
SupplementaryGroups=video audio
StateDirectory={state}
Environment=PYTHONUNBUFFERED=1
ReadWritePaths={OUTBOX_DIR} {BUNDLE_DIR}
Restart=on-failure
RestartSec=10
RestartPreventExitStatus=2
WatchdogSec={WATCHDOG_S}
TimeoutStopSec=90
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes
CapabilityBoundingSet=
StandardOutput=journal
StandardError=journal

[Install]
WantedBy=multi-user.target
"""


def service_config(text: str) -> str:
    """The service's ``edge.toml``: the device's, with the outbox and the bundle store in the state
    folders (the only ones the service may write). Comments are not kept; the device's own file is."""
    config = tomllib.loads(text)
    config.setdefault("outbox", {})["path"] = str(OUTBOX_DIR / "outbox.sqlite3")
    config.setdefault("updates", {})["store"] = str(BUNDLE_DIR)
    header = "# The scout-edge service's configuration (scout-edge install-service; docs/edge.md).\n"
    return header + tomli_w.dumps(config)


class ServiceNotifier:
    """sd_notify for the agent: ``READY=1``, ``WATCHDOG=1`` at half the watchdog interval systemd gives
    (``WATCHDOG_USEC``) while the agent says it is well, ``STOPPING=1``."""

    def __init__(self) -> None:
        self._notifier = sdnotify.SystemdNotifier()
        usec = os.environ.get("WATCHDOG_USEC", "")
        #: the watchdog interval systemd set (``None``: no watchdog, nothing to feed)
        self.interval_s: float | None = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else None
        self._fed = 0.0

    def ready(self) -> None:
        self._notifier.notify("READY=1")

    def feed(self, well: bool) -> None:
        """Called often; feeds the watchdog every half interval, only while ``well``."""
        now = time.monotonic()
        if well and self.interval_s is not None and now - self._fed >= self.interval_s / 2:
            self._notifier.notify("WATCHDOG=1")
            self._fed = now

    def stopping(self) -> None:
        self._notifier.notify("STOPPING=1")
