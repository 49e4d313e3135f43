"""Studies: one YAML spec -> parents, pruned children per method and budget, a report with plots."""
from autoprune.study.report import write_report
from autoprune.study.run import Cell, Study, run_study
from autoprune.study.spec import StudySpec, load_spec

__all__ = ["Cell", "Study", "StudySpec", "load_spec", "run_study", "write_report"]
