"""The cloud side of model bundles: ``scout models keygen | quantize | evaluate | sign | publish | promote``.

The bundle format, signatures, registry layout and the device's install
logic live in :mod:`edge_runtime.bundles` (one definition for both halves);
this package makes bundles (:mod:`.make`), draws the evaluation
(:mod:`.chart`) and decides promotions from the warehouse (:mod:`.promote`).
"""
