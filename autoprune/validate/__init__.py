"""Full validation of a search's Pareto set: longer fine-tune, whole validation split."""
from autoprune.validate.pareto import pareto_table, plot_pareto, validate_run

__all__ = ["pareto_table", "plot_pareto", "validate_run"]
