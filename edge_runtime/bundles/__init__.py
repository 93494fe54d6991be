"""Model bundles on the device: the versioned store and the updater (SPEC §5).

* :mod:`.store` — versioned install directories, the ``current`` symlink, the journal, rollback.
* :mod:`.updater` — the device's updater worker.

The format, signatures, archives, registry and health check they use are the shared
package :mod:`scout_bundles`. The lifecycle is in docs/models.md.
"""
