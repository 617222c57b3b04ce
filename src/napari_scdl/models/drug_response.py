"""``drug_response``: bulk expression -> drug response, transferred to spots (after scDEAL,
Chen et al. 2022, Nature Communications): the domain-adversarial network of
:mod:`~napari_scdl.models.transfer` with bulk samples (e.g. cell lines) as the reference
and their response (sensitive/resistant, or an IC50) as the label."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSetupError
from . import register_model
from ._base import Param
from .transfer import LabelTransfer

_HIDDEN = {"reference": "", "labels_key": "response", "mode": "labels"}
_DROP = {"n_pseudo", "max_cells"}


def read_table(path: str) -> pd.DataFrame:
    """A CSV/TSV (first column = row names) or an .h5ad (obs x var) as a DataFrame."""
    if str(path).endswith(".h5ad"):
        import anndata as ad

        a = ad.read_h5ad(path)
        X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
        return pd.DataFrame(X, index=a.obs_names, columns=a.var_names)
    try:
        return pd.read_csv(path, sep=None, engine="python", index_col=0)
    except (OSError, ValueError) as err:
        raise ModelSetupError(f"drug_response: cannot read {path} ({err})") from err


def response_labels(resp: pd.Series, sensitive: str) -> pd.Series:
    """'sensitive'/'resistant' per bulk sample: categories as given (``sensitive`` names the
    sensitive one), or numbers (IC50: below the median = sensitive)."""
    resp = resp.dropna()
    num = pd.to_numeric(resp, errors="coerce")
    if num.notna().all():
        return pd.Series(np.where(num < num.median(), "sensitive", "resistant"), index=resp.index)
    s = resp.astype(str)
    if sensitive not in set(s):
        raise ModelSetupError(f"drug_response: no bulk sample has the response {sensitive!r} "
                              f"(found {sorted(set(s))[:6]}); set sensitive_label")
    return pd.Series(np.where(s == sensitive, "sensitive", "resistant"), index=s.index)


@register_model
class DrugResponse(LabelTransfer):
    """Predict per spot the probability of sensitivity to a drug, from bulk data.

    A shared encoder and a response classifier trained on bulk samples (``bulk``: samples x
    genes; ``response``: per sample sensitive/resistant or an IC50, below the median =
    sensitive), with adversarial alignment of bulk and spot embeddings (as scDEAL; no
    single-cell labels), calibrated on held-out bulk samples; gene attributions by
    integrated gradients (Sundararajan et al. 2017) of the sensitivity logit, averaged over
    the spots (positive: drives sensitivity, negative: resistance).

    Writes
    ------
    ``obs['{key}']``: probability of sensitivity; ``obs['{key}_confidence']``: max(p, 1-p);
    ``obs['{key}_label']``: sensitive/resistant; ``obsm['X_{key}']``; ``uns['{key}']`` with
    ``attributions`` (genes and scores, strongest first) and params.
    """

    name = "drug_response"
    description = "Drug response per spot from bulk (cell line) data, domain-adapted (scDEAL-like)"
    citation = "Chen et al. (2022) Nat Commun (scDEAL); Ganin et al. (2016) JMLR"
    default_key = "drug_response"
    params = (
        Param("bulk", "", "bulk expression table (samples x genes; .csv/.tsv/.h5ad)"),
        Param("response", "", "response table (per bulk sample: sensitive/resistant or IC50)"),
        Param("response_key", "", "column of the response table ('' = the first)"),
        Param("sensitive_label", "sensitive", "value of the response meaning sensitive"),
        *(replace(p, gui=False, default=_HIDDEN[p.name]) if p.name in _HIDDEN else
          replace(p, default=0) if p.name == "n_null" else p
          for p in LabelTransfer.params if p.name not in _DROP),
    )
    writes = ("obs['{key}']", "obs['{key}_confidence']", "obs['{key}_label']",
              "obsm['X_{key}']", "uns['{key}']")

    def set_bulk(self, bulk: pd.DataFrame, response: pd.Series) -> DrugResponse:
        """Use in-memory tables (bulk: samples x genes; response: per sample)."""
        self._bulk = (bulk, response)
        return self

    def _load_reference(self, problems: list[str]):
        import anndata as ad

        bulk_resp = getattr(self, "_bulk", None)
        if bulk_resp is None:
            h = self.hparams
            if not h["bulk"] or not h["response"]:
                problems.append("no bulk data given; set bulk (samples x genes table) and "
                                "response (per-sample sensitive/resistant or IC50)")
                return None
            resp = read_table(h["response"])
            col = h["response_key"] or resp.columns[0]
            if col not in resp.columns:
                problems.append(f"the response table has no column {col!r} ({list(resp.columns)})")
                return None
            bulk_resp = (read_table(h["bulk"]), resp[col])
        bulk, resp = bulk_resp
        labels = response_labels(pd.Series(resp), self.hparams["sensitive_label"])
        shared = bulk.index.astype(str).intersection(labels.index.astype(str))
        if len(shared) < 10:
            problems.append(f"only {len(shared)} bulk samples have a response (need 10); the "
                            "first column of both tables must hold the sample names")
            return None
        X = bulk.loc[shared].to_numpy(dtype=np.float32)
        a = ad.AnnData(X=np.clip(X, 0, None), obs=pd.DataFrame(index=list(shared)),
                       var=pd.DataFrame(index=bulk.columns.astype(str)))
        a.obs["response"] = labels.loc[shared].to_numpy()
        return a

    def _infer(self) -> None:
        super()._infer()
        self.attributions = self._integrated_gradients()

    def _integrated_gradients(self, steps: int = 20) -> pd.Series:
        import torch

        net, s = self.module, self.categories.index("sensitive")
        x = torch.from_numpy(self.x_query).to(self.device)
        total = torch.zeros(x.shape[1], device=self.device)
        for a in np.linspace(0, 1, steps + 1)[1:]:
            xi = (a * x).requires_grad_(True)
            logit = net(xi)
            (logit[:, s] - logit[:, 1 - s]).sum().backward()
            total += xi.grad.mean(0) / steps  # path-averaged gradient: sign = direction
        return pd.Series(total.detach().cpu().numpy(), index=self.var_names).sort_values(
            key=np.abs, ascending=False)

    def write(self, adata, key_added: str | None = None) -> list[str]:
        key = key_added or self.default_key
        written = super().write(adata, key)
        s = self.categories.index("sensitive")
        adata.obs[f"{key}_label"] = adata.obs[key]
        adata.obs[key] = self.proba[:, s].astype(np.float32)
        adata.obsm.pop(self.table_key(key), None)
        top = self.attributions.iloc[:200]
        adata.uns[key]["attributions"] = {"genes": list(top.index),
                                          "scores": top.to_numpy(dtype=float)}
        written = [w for w in written if self.table_key(key) not in w]
        return written + [f"obs['{key}_label']"]

    def extra_uns(self) -> dict[str, Any]:
        return super().extra_uns() | {"sensitive_label": self.hparams["sensitive_label"]}
