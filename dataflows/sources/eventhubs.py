"""Bytewax source over Azure Event Hubs' native AMQP protocol (azure-eventhub), behind the same
boundary as the Kafka source (``--source eventhubs://NAMESPACE``; the connection string from
``SCOUT_EVENTHUBS_CONNECTION_STRING`` or ``eventhubs_connection_string_file``).

Partition ownership comes from the dataflow, not from a blob checkpoint store: one Bytewax
partition per partition *number*, reading that partition of every input event hub (one hub per
stream, named like the topics) and merging them in enqueued-time order (:mod:`aligned`), as the
Kafka source does. Event Hubs hashes a partition key the same way in every hub, so a device's
streams meet in one partition number when the hubs have equal partition counts. Positions are
the sequence numbers of the records handed on, kept in Bytewax's recovery store; a resume starts
after them. Records carry the hub as topic, the partition id, the sequence number as offset and
the enqueued time as record timestamp.

The client's receive loop is push-based: one thread per hub receives batches into a bounded
queue that ``next_batch`` drains (back-pressure: the thread waits while the queue is full).

Limits (stated, not hidden): tested offline only (no Event Hubs emulator can be obtained here):
the client wiring, positions and record conversion are checked against the real library
objects, nothing is received from a service. No bounded (``--stop-at-end``) mode and no replay
by time (use the Kafka endpoint of the namespace, the ``eventhubs`` profile, for those);
no dead-letter or annotated output (the Kafka endpoint again).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from dataflows.errors import Exit, ScoutError
from dataflows.health import mark_epoch
from dataflows.metrics import RECORDS_IN
from dataflows.sources.aligned import TimeAligned
from dataflows.sources.stop import stop_requested
from scout_contract import SourceRecord

log = structlog.get_logger(__name__)

Progress = Callable[[int], None]
STATE_VERSION = 1
#: Events a hub's receive thread may buffer before it waits for the dataflow.
QUEUE_EVENTS = 20_000


class EventHubsSourceError(ScoutError, RuntimeError):
    """The namespace or an event hub cannot be used."""

    exit_code, label = Exit.SOURCE, "source error"


def event_record(hub: str, partition: int, event: Any) -> SourceRecord:
    """An ``EventData`` as the dataflow's record (body bytes as received; a partition key that
    is not UTF-8 makes an envelope error naming its bytes)."""
    body = event.body
    value = body if isinstance(body, bytes) else b"".join(bytes(part) for part in body)
    enqueued = event.enqueued_time
    ts = int(enqueued.timestamp() * 1000) if enqueued is not None else 0
    raw_key = event.partition_key
    key: str | None = None
    problem: str | None = None
    if isinstance(raw_key, bytes):
        try:
            key = raw_key.decode("utf-8")
        except UnicodeDecodeError:
            problem = f"the partition key is not UTF-8 (hex {raw_key.hex()})"
    elif raw_key is not None:
        key = str(raw_key)
    return SourceRecord(hub, partition, int(event.sequence_number or 0), ts, key, value, problem)


def consumer(connection_string: str, hub: str, consumer_group: str) -> Any:
    """The azure-eventhub consumer client of one event hub (connects only when receiving)."""
    from azure.eventhub import EventHubConsumerClient

    return EventHubConsumerClient.from_connection_string(
        connection_string, consumer_group=consumer_group, eventhub_name=hub
    )


def start_position(state: dict[str, int], hub: str) -> tuple[str | int, bool]:
    """Where a hub's partition starts: after the last sequence number handed on, or the beginning.

    >>> start_position({"eh-pi-stt-raw": 41}, "eh-pi-stt-raw"), start_position({}, "eh-pi-stt-raw")
    ((41, False), ('-1', True))
    """
    if hub in state:
        return state[hub], False  # exclusive: the event with this sequence number was handed on
    return "-1", True  # the start of the partition's stream


class _HubPartition(StatefulSourcePartition[list[SourceRecord], dict[str, Any]]):
    def __init__(self, connection_string: str, hubs: list[str], number: int, consumer_group: str,
                 resume: object, batch_size: int, progress: Progress | None) -> None:  # fmt: skip
        self._number = number
        self._batch_size = batch_size
        self._progress = progress
        self._positions: dict[str, int] = _resume_positions(resume)
        self._merge = TimeAligned(hubs)
        self._queues: dict[str, queue.Queue[Any]] = {h: queue.Queue(QUEUE_EVENTS) for h in hubs}
        self._caught_up: dict[str, bool] = dict.fromkeys(hubs, False)
        self._clients = {h: consumer(connection_string, h, consumer_group) for h in hubs}
        self._errors: list[str] = []
        self._threads = [
            threading.Thread(target=self._receive, args=(h,), name=f"eventhubs-{h}-{number}", daemon=True) for h in hubs
        ]
        for t in self._threads:
            t.start()

    def _receive(self, hub: str) -> None:
        position, inclusive = start_position(self._positions, hub)
        q = self._queues[hub]

        def on_batch(_context: Any, events: list[Any]) -> None:
            if not events:
                q.put(None)  # max_wait_time passed with nothing new: the partition is caught up
            for event in events:
                q.put(event)

        def on_error(_context: Any, error: Exception) -> None:
            self._errors.append(f"{hub}/{self._number}: {error}")

        try:
            self._clients[hub].receive_batch(
                on_batch, partition_id=str(self._number), starting_position=position,
                starting_position_inclusive=inclusive, max_batch_size=300, max_wait_time=1.0, on_error=on_error,
            )  # fmt: skip
        except Exception as exc:  # reported by next_batch on the dataflow's thread
            self._errors.append(f"{hub}/{self._number}: {exc}")

    def next_batch(self) -> list[list[SourceRecord]]:
        if stop_requested():
            raise StopIteration()
        if self._errors:
            raise EventHubsSourceError("; ".join(self._errors[:3]))
        for hub, q in self._queues.items():
            while True:
                try:
                    event = q.get_nowait()
                except queue.Empty:
                    break
                if event is None:
                    self._caught_up[hub] = True
                    continue
                self._caught_up[hub] = False
                self._merge.add(hub, event_record(hub, self._number, event))
        out = self._merge.take(lambda hub: self._caught_up[hub])
        for rec in out:  # a take is in time order: an input's newest position is its highest
            if rec.offset > self._positions.get(rec.topic, -1):
                self._positions[rec.topic] = rec.offset
        if not out:
            return []
        RECORDS_IN.labels(f"eventhubs/{self._number}").inc(len(out))
        if self._progress:
            self._progress(len(out))
        return [out]

    def next_awake(self) -> datetime | None:
        return None

    def snapshot(self) -> dict[str, Any]:
        mark_epoch()  # an epoch of this process ended (liveness, dataflows/health.py)
        return {"version": STATE_VERSION, "positions": dict(self._positions)}

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def _resume_positions(state: object) -> dict[str, int]:
    if state is None:
        return {}
    if isinstance(state, dict) and state.get("version") == STATE_VERSION and isinstance(state.get("positions"), dict):
        return {str(h): int(p) for h, p in state["positions"].items()}
    raise EventHubsSourceError(f"the recovery directory holds Event Hubs state of another version ({state!r})")


class EventHubsSource(FixedPartitionedSource[list[SourceRecord], dict[str, Any]]):
    """The input event hubs of a namespace; one Bytewax partition per partition number."""

    def __init__(self, connection_string: str, hubs: list[str], consumer_group: str = "$Default",
                 batch_size: int = 20_000, progress: Progress | None = None) -> None:  # fmt: skip
        self.connection_string = connection_string
        self.hubs = hubs
        self.consumer_group = consumer_group
        self.batch_size = batch_size
        self.progress = progress

    def list_parts(self) -> list[str]:
        counts = {}
        for hub in self.hubs:
            client = consumer(self.connection_string, hub, self.consumer_group)
            try:
                counts[hub] = len(client.get_partition_ids())
            except Exception as exc:
                raise EventHubsSourceError(f"cannot read event hub {hub}: {exc}") from exc
            finally:
                client.close()
        if len(set(counts.values())) > 1:
            raise EventHubsSourceError(f"input event hubs must have the same number of partitions: {counts}")
        return [f"p{n}" for n in range(max(counts.values()))]

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, Any] | None) -> _HubPartition:
        return _HubPartition(self.connection_string, self.hubs, int(for_part[1:]), self.consumer_group,
                             resume_state, self.batch_size, self.progress)  # fmt: skip
