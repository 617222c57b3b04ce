"""User-facing analysis functions (``adata`` first, results written under ``key_added``).

The GUI and the CLI call these same functions.
"""

from ._run import run_model, run_model_iter

__all__ = ["run_model", "run_model_iter"]
