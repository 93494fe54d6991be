"""Benchmark: one full model update of the int8 detector bundle, as the device's updater does it.

Each run starts from a device store holding version 1.0.0 and a registry
(served over HTTP on 127.0.0.1 by Python's static file server) whose channel
carries 2.0.0; it times, in the device process:

* **update** — read and verify the signed channel index, download the
  archive (size limit, SHA-256 from the index), verify the archive (signature,
  every file's size and hash, paths, links), unpack it (hashing again), run
  the health check (load the model, run it on the reference input, compare),
  swap ``current``;
* **baseline** — the same download and unpack with no check at all (what
  copying the files by hand costs), so the ratio isolates what verification
  and the health check add.

Target (issue #10): the update under 5 s on this machine.

    python bench/model_update.py [--runs 5]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import statistics
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bundle_tooling.make import make_bundle  # noqa: E402
from edge_runtime.bundles.store import ModelStore  # noqa: E402
from edge_runtime.bundles.updater import Updater  # noqa: E402
from edge_runtime.vision.build import build_face_models  # noqa: E402
from scout_bundles.archive import verify_archive  # noqa: E402
from scout_bundles.registry import Registry, publish  # noqa: E402
from scout_bundles.signing import TrustedKeys, generate, public_text  # noqa: E402

LIMIT = 300 * 2**20


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
        work = Path(tmp)
        models = work / "models"
        print("building the fp32 and int8 detectors …", flush=True)
        build_face_models(models)
        key = generate()
        trusted = TrustedKeys.parse([public_text(key)])
        v1, v2 = work / "v1.tar.gz", work / "v2.tar.gz"
        make_bundle(models / "centerface_640x448.onnx", name="centerface", kind="detector", version="1.0.0",
                    private=key, out=v1)  # fmt: skip
        manifest = make_bundle(models / "centerface_640x448.int8.onnx", name="centerface", kind="detector",
                               version="2.0.0", private=key, out=v2)  # fmt: skip
        registry = work / "registry"
        publish(registry, v2, manifest, "canary", key)
        size = v2.stat().st_size
        server, url = serve(registry)
        updates, baselines = [], []
        try:
            for run in range(args.runs):
                store_root = work / f"device-{run}"
                ModelStore(store_root, "centerface").install(verify_archive(v1, trusted, LIMIT))
                updater = Updater(Registry(url), "canary", trusted, store_root, {"centerface": lambda f, m: None},
                                  max_bytes=LIMIT)  # fmt: skip
                start = time.perf_counter()
                outcomes = updater.poll_once()
                updates.append(time.perf_counter() - start)
                assert [o.ok for o in outcomes] == [True], outcomes
                assert ModelStore(store_root, "centerface").current_version() == "2.0.0"

                plain = work / f"plain-{run}"
                start = time.perf_counter()
                archive = work / f"plain-{run}.tar.gz"
                with urllib.request.urlopen(url + "bundles/centerface/centerface-2.0.0.tar.gz") as r:
                    archive.write_bytes(r.read())
                with tarfile.open(archive, "r:gz") as tar:
                    tar.extractall(plain, filter="data")
                baselines.append(time.perf_counter() - start)
                shutil.rmtree(plain)
        finally:
            server.shutdown()
    print(f"\nbundle: {manifest.label}, {len(manifest.files)} files, {manifest.total_bytes:,} bytes unpacked, "
          f"{size:,} bytes archive")  # fmt: skip
    print(f"{'run':>4} {'update s':>10} {'baseline s':>11} {'ratio':>7}")
    for i, (u, b) in enumerate(zip(updates, baselines, strict=True), start=1):
        print(f"{i:>4} {u:>10.3f} {b:>11.3f} {u / b:>7.2f}")
    p50_u, p50_b = statistics.median(updates), statistics.median(baselines)
    print(f"{'p50':>4} {p50_u:>10.3f} {p50_b:>11.3f} {p50_u / p50_b:>7.2f}")
    print(f"max update {max(updates):.3f} s — target < 5 s: {'met' if max(updates) < 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
