"""The updater outlives any server and any failed poll (issue #20, item 6).

A registry on 127.0.0.1 that answers its first requests with a status line ``HTTP/1.1 ABC`` and with a
chunked body cut mid-chunk, then serves the channel properly: before, the first broken answer
(``http.client.HTTPException``, not an ``OSError``) ended the updater thread for good and the version
published later was never installed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge_runtime.bundles.store import ModelStore
from edge_runtime.bundles.updater import Updater
from scout_bundles.archive import verify_archive
from scout_bundles.manifest import BundleError
from scout_bundles.registry import Registry, publish
from tests.edge_fixtures import Bundles

LIMIT = 50 * 2**20
BROKEN = [
    b"HTTP/1.1 ABC\r\n\r\n",
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n{"sequence": 1',  # cut mid-chunk
]


@pytest.fixture
def flaky_registry(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A registry folder served over HTTP; the first len(BROKEN) requests get broken answers."""
    root = tmp_path / "registry"
    root.mkdir()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            if len(seen) <= len(BROKEN):
                self.wfile.write(BROKEN[len(seen) - 1])
                self.close_connection = True
                return
            path = root / self.path.lstrip("/")
            if not path.is_file():
                self.send_error(404)
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, seen
    finally:
        server.shutdown()
        server.server_close()


def test_broken_http_answers_are_one_line_bundle_errors(
    bundles: Bundles, flaky_registry: tuple[str, Path, list[str]]
) -> None:
    url, root, _ = flaky_registry
    publish(root, bundles.v1, verify_archive(bundles.v1, bundles.trusted, LIMIT).manifest, "stable", bundles.key)
    registry = Registry(url, timeout_s=5)
    with pytest.raises(BundleError, match="BadStatusLine"):
        registry.index("stable", bundles.trusted)
    with pytest.raises(BundleError, match=r"broke off|IncompleteRead"):
        registry.index("stable", bundles.trusted)
    assert registry.index("stable", bundles.trusted).bundles  # the third answer is whole


def test_the_update_loop_survives_broken_answers_and_installs_what_is_published_later(
    bundles: Bundles, flaky_registry: tuple[str, Path, list[str]], tmp_path: Path
) -> None:
    url, root, seen = flaky_registry
    publish(root, bundles.v1, verify_archive(bundles.v1, bundles.trusted, LIMIT).manifest, "stable", bundles.key)
    updater = Updater(Registry(url, timeout_s=5), "stable", bundles.trusted, tmp_path / "store",
                      {"centerface": lambda f, m: None}, max_bytes=LIMIT)  # fmt: skip
    stop = threading.Event()
    loop = threading.Thread(target=updater.run, args=(stop, 0.05), daemon=True)
    loop.start()
    store = ModelStore(tmp_path / "store", "centerface")
    try:
        deadline = time.monotonic() + 60
        while store.current_version() != "1.0.0" and time.monotonic() < deadline and loop.is_alive():
            time.sleep(0.02)
        assert store.current_version() == "1.0.0", (updater.outcomes, updater.stopped_by)
        failed = [o.message for o in updater.outcomes if not o.ok]
        assert len(failed) >= 2 and all(len(m) <= 500 and "\n" not in m for m in failed)
        # published after the failures: still picked up by the same loop
        publish(root, bundles.v2, verify_archive(bundles.v2, bundles.trusted, LIMIT).manifest, "stable", bundles.key)
        while store.current_version() != "2.0.0" and time.monotonic() < deadline and loop.is_alive():
            time.sleep(0.02)
        assert store.current_version() == "2.0.0"
        assert updater.problem is None and len(seen) > len(BROKEN)
    finally:
        stop.set()
        loop.join(timeout=30)


def test_any_failed_poll_is_retried_and_a_dead_loop_is_reported(bundles: Bundles, tmp_path: Path) -> None:
    updater = Updater(Registry(str(tmp_path / "none")), "stable", bundles.trusted, tmp_path / "store",
                      {"centerface": lambda f, m: None}, max_bytes=LIMIT)  # fmt: skip
    calls: list[int] = []

    def poll() -> list[object]:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("a bug in one poll")  # any exception: logged, reported, retried
        raise SystemExit("the thread is told to end")  # only a BaseException ends the loop

    updater.poll_once = poll  # type: ignore[method-assign,assignment]
    stop = threading.Event()
    with pytest.raises(SystemExit):
        updater.run(stop, 0.01)
    assert len(calls) == 3 and "RuntimeError: a bug in one poll" in (updater.outcomes[0].message)
    assert updater.problem == "model updater not running (SystemExit: the thread is told to end)"
