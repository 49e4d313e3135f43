"""Exported trackers: ``arch.json`` + ``model.safetensors`` + ``card.md`` (+ ``model.onnx``).

>>> import autoprune
>>> tracker = autoprune.load("runs/siamrpn-50m/export/best")   # doctest: +SKIP
>>> tracker.init(first_frame, box); box = tracker.update(frame)  # doctest: +SKIP

This package is the export format: writing it and reading it back. Exporting a search's
trial (``autoprune.export.trial``) builds on validation and is imported from there.
"""
from autoprune.export.loader import FORMAT_VERSION, load, load_model
from autoprune.export.writer import export_model

__all__ = ["FORMAT_VERSION", "export_model", "load", "load_model"]
