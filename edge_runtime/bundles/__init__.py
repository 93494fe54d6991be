"""Model bundles: signed, verified, installed atomically, health-checked, rolled back (SPEC §5).

* :mod:`.manifest` — what a bundle declares (one definition, read by the device and written by the cloud).
* :mod:`.signing` — ed25519 keys and detached signatures.
* :mod:`.archive` — pack a bundle; verify an archive before anything is unpacked; unpack.
* :mod:`.health` — run the new model on the reference input shipped in the bundle.
* :mod:`.store` — versioned install directories, the ``current`` symlink, the journal, rollback.
* :mod:`.registry` — channel indexes (signed) in a directory or behind any static HTTP server.
* :mod:`.updater` — the device's updater worker.

The lifecycle is in docs/models.md.
"""
