"""Measured comparisons (not timed tests). ``python -m benchmarks [--quick] [NAME ...]``.

Each benchmark is a function ``run(quick: bool) -> dict`` returning ``{"title", "rows",
"columns", "goals", "notes"}``; results are written to ``benchmarks/results/<name>.json``
and ``.md`` with the command, the machine and the time it took.
"""
