"""One error family: every message is meant to be printed as one line to a user."""


class AutoPruneError(Exception):
    """Base of every error autoprune raises on purpose; the CLI prints its message alone."""


class ConfigError(AutoPruneError):
    """A bad option, preset, search-space file or architecture record."""


class DataError(AutoPruneError):
    """A dataset that is missing, laid out wrongly or malformed."""


class CheckpointError(AutoPruneError):
    """A checkpoint that is missing, not a state dict, or does not fit the model."""


class BudgetError(AutoPruneError):
    """A budget that cannot be met by the search space or is above the parent."""


class ExportError(AutoPruneError):
    """An export that would overwrite, was tampered with, or is from a newer format."""


class StorageError(AutoPruneError):
    """A study storage that stopped answering (its server went away) during a command."""
