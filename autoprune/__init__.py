"""autoprune: search per-layer pruning of visual object trackers under a per-frame budget."""
from autoprune.errors import AutoPruneError

__version__ = "0.1.0"
__all__ = ["AutoPruneError", "__version__"]
