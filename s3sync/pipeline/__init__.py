"""The stages of a pass, one module each (``engine.PairSync.run`` reads them top to
bottom): ``gather`` (a full sync) or ``scoped`` (a watch pass or a poll, with ``look``
for the local side), then the engine's fill and the core's reconcile, ``rails``, the
executor, and the record. ``context`` holds what every stage reads."""
