"""Drain the outbox into a publisher until stopped, backing off while the broker is away."""

from __future__ import annotations

import threading

import structlog
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_when_event_set, wait_exponential_jitter

from edge_runtime import metrics
from edge_runtime.delivery.outbox import Outbox
from edge_runtime.delivery.publishers import Publisher, PublishError

log = structlog.get_logger(__name__)


def drain_once(outbox: Outbox, publisher: Publisher, batch: int) -> int:
    """Send the oldest ``batch`` events; ack what the broker acknowledged. Returns how many were sent.

    Raises :class:`PublishError` if any event of the batch was not acknowledged.
    """
    items = outbox.peek(batch)
    if not items:
        return 0
    acked = publisher.send(items)
    outbox.ack(acked)
    metrics.PUBLISHED.inc(len(acked))
    metrics.OUTBOX_DEPTH.set(outbox.depth())
    missing = len(items) - len(acked)
    if missing:
        done = set(acked)
        outbox.record_attempt(i.seq for i in items if i.seq not in done)
        metrics.PUBLISH_ERRORS.inc(missing)
        raise PublishError(f"{missing} of {len(items)} events not acknowledged")
    return len(items)


def drain_forever(
    outbox: Outbox,
    publisher: Publisher,
    stop: threading.Event,
    *,
    batch: int,
    max_backoff_s: float,
    idle_s: float = 0.2,
) -> None:
    """Loop until ``stop`` is set; exponential backoff with jitter (0.5 s … ``max_backoff_s``) on failures."""

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    while not stop.is_set():
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(PublishError),
                wait=wait_exponential_jitter(multiplier=0.5, max=max_backoff_s),
                stop=stop_when_event_set(stop),
                sleep=sleep,
                before_sleep=lambda state: log.warning(
                    "publish failed, backing off",
                    attempt=state.attempt_number,
                    wait_s=round(state.upcoming_sleep, 2),
                    depth=outbox.depth(),
                    error=str(state.outcome.exception()) if state.outcome else None,
                ),
                reraise=True,
            ):
                with attempt:
                    sent = drain_once(outbox, publisher, batch)
        except (PublishError, RetryError):
            continue  # stop was set during backoff
        if sent == 0:
            stop.wait(idle_s)
