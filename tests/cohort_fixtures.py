"""Shared pieces of the cohort tests: fast settings and the layer each domain stands for
(their three synthetic slides are the ``slides`` fixture of ``conftest.py``)."""

from __future__ import annotations

import pandas as pd

FAST = {"epochs": 40, "n_networks": 1, "n_pcs": 20}


def layer_to_domain(a, key="domain") -> dict[str, str]:
    """The domain most spots of each true layer got."""
    return pd.crosstab(a.obs["truth"], a.obs[key]).idxmax(axis=1).to_dict()
