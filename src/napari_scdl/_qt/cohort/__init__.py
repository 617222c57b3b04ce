"""Panel "Cohort": joint domains over several open slides."""

from .widget import CohortWidget

__all__ = ["CohortWidget"]
