"""autoprune: search per-layer pruning of visual object trackers under a per-frame budget."""
from autoprune.errors import AutoPruneError

__version__ = "0.1.0"
__all__ = ["AutoPruneError", "__version__", "load"]


def load(directory, *, hparams=None, runtime="torch"):
    """A ready tracker from an export directory (see ``autoprune.export``).

    ``runtime="onnx"`` runs the per-frame network in ONNX Runtime (exports made with ``--onnx``).
    """
    from autoprune.export import load as _load

    return _load(directory, hparams=hparams, runtime=runtime)
