"""Child process of the kill -9 test: drains an outbox into a broker.

Run as ``python -m tests.edge_runtime.delivery.drain_child OUTBOX BOOTSTRAP BATCH``.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from edge_runtime.config import KafkaConfig, PublisherConfig
from edge_runtime.delivery.drain import drain_forever
from edge_runtime.delivery.outbox import Outbox
from edge_runtime.delivery.publishers import KafkaPublisher


def main(outbox_path: str, bootstrap: str, batch: int) -> None:
    outbox = Outbox(Path(outbox_path), budget_bytes=1 << 30)
    config = PublisherConfig(kind="kafka", batch=batch, ack_timeout_s=5, kafka=KafkaConfig(bootstrap_servers=bootstrap))
    publisher = KafkaPublisher(config)
    stop = threading.Event()
    thread = threading.Thread(
        target=drain_forever, args=(outbox, publisher, stop), kwargs={"batch": batch, "max_backoff_s": 1}
    )
    thread.start()
    deadline = time.monotonic() + 60
    while outbox.depth() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    publisher.close()
    print(f"left {outbox.depth()}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
