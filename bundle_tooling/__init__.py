"""Making and releasing model bundles (the cloud side of ``scout models``).

This package makes bundles (:mod:`.make`), draws the evaluation (:mod:`.chart`) and
decides promotions from the warehouse (:mod:`.promote`). The bundle format, signatures
and registry layout are :mod:`scout_bundles`; as release tooling it may use the
device's vision code (:mod:`edge_runtime.vision`: held-out photos, letterbox), which
the dataflows never import.
"""
