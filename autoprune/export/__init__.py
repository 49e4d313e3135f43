"""Exported trackers: ``arch.json`` + ``model.safetensors`` + ``card.md`` (+ ``model.onnx``).

>>> import autoprune
>>> tracker = autoprune.load("runs/siamrpn-50m/export/best")   # doctest: +SKIP
>>> tracker.init(first_frame, box); box = tracker.update(frame)  # doctest: +SKIP
"""
from autoprune.export.loader import FORMAT_VERSION, load, load_model
from autoprune.export.writer import export_model, export_trial

__all__ = ["FORMAT_VERSION", "export_model", "export_trial", "load", "load_model"]
