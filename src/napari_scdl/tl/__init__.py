"""User-facing analysis functions (``adata`` first, results written under ``key_added``).

The GUI and the CLI call these same functions.
"""

from ._explain import explain_category, permutation_importance  # noqa: F401
from ._run import run_model, run_model_iter
from .cohort import cohort_domains  # noqa: F401
from .compare import cluster, compare, disagreement  # noqa: F401
from .domains import domains, domains_iter  # noqa: F401
from .expression import gene_names, gene_values, group_summary, prepare_expression  # noqa: F401
from .markers import export_markers_csv, filter_markers, get_markers, markers  # noqa: F401
from .propagate import label_propagation, propagate, propagate_iter, suggest_spots  # noqa: F401
from .svg import spatially_variable_genes  # noqa: F401
from .transfer import rare_spots, transfer, transfer_iter  # noqa: F401

__all__ = ["run_model", "run_model_iter"]
__all__ += ["gene_names", "gene_values", "group_summary", "prepare_expression", "markers", "filter_markers", "get_markers", "export_markers_csv", "spatially_variable_genes"]
__all__ += ["propagate", "propagate_iter", "label_propagation", "suggest_spots", "explain_category", "permutation_importance"]
__all__ += ["cluster", "compare", "disagreement"]
__all__ += ["cohort_domains"]
__all__ += ["transfer", "transfer_iter", "rare_spots"]
