"""One module per workload. Each has ``TITLE`` and ``run(ctx, notes) -> list[Figure]``:
it builds what it needs in databases it asks ``ctx`` for, measures, and may append
sentences to ``notes`` (what was measured, how it compares, what is left)."""
