"""Model bundles, the part both halves share (SPEC §5): format, signatures, archives, registry, health check.

* :mod:`.manifest` — what a bundle declares (one definition, read by the device and written by the cloud).
* :mod:`.signing` — ed25519 keys and detached signatures.
* :mod:`.archive` — pack a bundle; verify an archive before anything is unpacked; unpack.
* :mod:`.health` — run a model on the reference input shipped in its bundle (onnxruntime imported lazily).
* :mod:`.registry` — channel indexes (signed) in a directory or behind any static HTTP server.
* :mod:`.files` — a file's SHA-256 and paths that never leave their folder.

Like :mod:`scout_contract`, this package imports no engine (Bytewax, ClickHouse) and
neither half: :mod:`edge_runtime.bundles` (the device's store and updater) and
:mod:`bundle_tooling` (make, chart, promote) build on it. The lifecycle is in docs/models.md.
"""
