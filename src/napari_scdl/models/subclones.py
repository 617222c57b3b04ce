"""``subclones``: tumour subclones inside a region with a robust deep autoencoder (RDAClone-like).

The user picks a region (``region="annotation=tumour"``, ``"domain=3,4"`` or a boolean
mask); only its spots are embedded and clustered, every other spot gets NaN.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSetupError, ScdlError
from . import register_model
from ._base import BaseModel, Param, Progress
from ._train import TrainingPlan

MIN_REGION_SPOTS = 10
N_MARKERS_KEPT = 100


def region_mask(adata, region: Any, *, what: str = "region") -> np.ndarray:
    """Boolean mask of the spots in ``region``: ``"obs_column=value[,value]"``, a boolean
    array over the spots, or empty/None (all spots). Raises :class:`ModelSetupError` naming
    the columns or values available."""
    n = adata.n_obs
    if region is None or (isinstance(region, str) and not region.strip()):
        return np.ones(n, dtype=bool)
    if not isinstance(region, str):
        mask = np.asarray(region)
        if mask.dtype != bool or mask.shape != (n,):
            raise ModelSetupError(f"{what}: a mask must be {n} booleans, got {mask.dtype} {mask.shape}")
        return mask.copy()
    col, sep, values = region.partition("=")
    col = col.strip()
    if not sep or not values.strip():
        raise ModelSetupError(f"{what} {region!r}: write it as obs_column=value[,value], "
                              "e.g. annotation=tumour")
    if col not in adata.obs.columns:
        raise ModelSetupError(f"{what} {region!r}: adata.obs has no column {col!r} "
                              f"(columns: {list(adata.obs.columns)})")
    wanted = [v.strip() for v in values.split(",") if v.strip()]
    obs = adata.obs[col].astype(str).where(adata.obs[col].notna(), None)
    present = sorted({str(v) for v in obs.dropna().unique()})
    unknown = [v for v in wanted if v not in present]
    if unknown:
        raise ModelSetupError(f"{what} {region!r}: {unknown} not in obs[{col!r}] "
                              f"(values: {present[:20]})")
    return np.asarray(obs.isin(wanted))


def describe_region(region: Any, mask: np.ndarray) -> str:
    if isinstance(region, str) and region.strip():
        return region.strip()
    if region is None or isinstance(region, str):
        return "all spots"
    return f"a selection of {int(mask.sum())} spots"


@register_model
class SubclonesModel(BaseModel):
    """Subclones of a tumour region (after RDAClone; the robust deep autoencoder of Zhou &
    Paffenroth 2017, KDD).

    The region's spots are embedded by a robust deep autoencoder that alternates training
    on the clean part ``L = X - S`` with a soft-thresholding update of the sparse outlier
    part ``S`` (threshold ``sparsity`` robust SDs of each feature's residual); the embedding
    is clustered with a tied Gaussian mixture (number of subclones chosen by silhouette
    when ``n_subclones=0``); a tree joins the subclones by average linkage of their
    centroids; markers of each subclone against the other region spots are the Wilcoxon
    test of :func:`napari_scdl.tl.markers`. ``signal="cnv"`` works on a copy-number-like
    signal (:func:`napari_scdl.tl.cnv.cnv_signal`) instead of expression.

    Writes
    ------
    ``obs['{key}']``, ``obs['{key}_confidence']``
        subclone ("1", "2", ... largest first) and its posterior; NaN outside the region.
    ``obs['{key}_outlier']``
        fraction of a spot's features put into the sparse outlier part (NaN outside).
    ``obsm['X_{key}']``
        the embedding (NaN rows outside the region).
    ``uns['{key}']``
        params, ``tree`` (linkage, distances, newick), ``k_scores``, ``markers`` (top
        genes per subclone with p-values), ``region``, history.
    """

    name = "subclones"
    description = "tumour subclones inside a region: robust deep autoencoder, tree, markers (RDAClone-like)"
    citation = "Zhou & Paffenroth (2017) KDD, robust deep autoencoders; RDAClone"
    default_key = "subclone"
    writes = ("obs['{key}']", "obs['{key}_confidence']", "obs['{key}_outlier']",
              "obsm['X_{key}']", "uns['{key}']")
    params = (
        Param("region", "", "spots to work on: obs_column=value[,value] (e.g. annotation=tumour); "
              "empty: all spots"),
        Param("n_subclones", 0, "number of subclones (0: chosen by silhouette)", min=0, max=30),
        Param("max_subclones", 8, "most subclones tried when choosing automatically", min=2, max=30),
        Param("signal", "expression", "expression, or a copy-number-like signal along the "
              "chromosomes (needs gene positions)", choices=("expression", "cnv")),
        Param("gene_positions", "", "GTF, BED or table (gene, chromosome, start) for signal=cnv"),
        Param("reference", "", "normal spots for signal=cnv (obs_column=value); empty: the "
              "spots outside the region"),
        Param("robust", True, "split off sparse outliers (off: a plain autoencoder)"),
        Param("sparsity", 2.0, "outlier threshold in robust SDs of each feature's residual",
              min=0.1, max=50.0),
        Param("n_top_genes", 2000, "highly variable genes of the region (signal=expression)", min=10),
        Param("n_latent", 16, "dimensions of the embedding", min=2, max=256),
        Param("n_hidden", 128, "units of the hidden layers", min=8, max=4096),
        Param("epochs", 100, "training epochs in all", min=2, max=10000),
        Param("n_rounds", 5, "alternations of training and outlier update", min=1, max=100),
        Param("batch_size", 128, "spots per mini-batch", min=8),
        Param("lr", 1e-3, "learning rate (Adam)", min=1e-6, max=1.0),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._arch: dict[str, Any] = {}
        self._scale: dict[str, np.ndarray] = {}
        self._clusters: dict[str, np.ndarray] | None = None
        self._tree: dict[str, Any] = {}
        self._k_scores: dict[int, float] = {}
        self._markers: pd.DataFrame | None = None

    # -- inputs -----------------------------------------------------------------------------
    def setup(self, adata) -> None:
        """Check the region and prepare its features (all problems in one error)."""
        from ..preprocessing import expression_input

        problems, mask, ref, expr = [], None, None, None
        try:
            mask = region_mask(adata, self.hparams["region"])
            if mask.sum() < MIN_REGION_SPOTS:
                problems.append(f"the region has {int(mask.sum())} spots; at least "
                                f"{MIN_REGION_SPOTS} are needed")
        except ModelSetupError as err:
            problems.append(str(err))
        if self.hparams["signal"] == "cnv":
            try:
                ref = region_mask(adata, self.hparams["reference"] or None, what="reference")
                if not self.hparams["reference"] and mask is not None:
                    ref = ~mask
            except ModelSetupError as err:
                problems.append(str(err))
        try:
            expr = expression_input(adata)
        except ScdlError as err:
            problems.append(str(err))
        k = self.hparams["n_subclones"]
        if k and mask is not None and k >= mask.sum():
            problems.append(f"n_subclones={k} must be below the region's {int(mask.sum())} spots")
        if problems:
            raise ModelSetupError(f"{self.name} cannot run on this sample:\n- "
                                  + "\n- ".join(problems))
        if isinstance(self.hparams["region"], str) and not self.hparams["region"].strip():
            self.warn(f"no region given: all {adata.n_obs} spots are used; give "
                      "region=obs_column=value (e.g. annotation=tumour) to look inside a tumour")
        self.mask, self.n_obs = mask, adata.n_obs
        try:
            feats = self._features(adata, expr, mask, ref)
        except ScdlError as err:
            raise ModelSetupError(f"{self.name}: {err}") from err
        if not self.is_trained:
            sd = feats.std(0) if self.hparams["signal"] == "expression" else \
                np.full(feats.shape[1], max(float(feats.std()), 1e-8))
            self._scale = {"mean": feats.mean(0), "sd": np.where(sd > 0, sd, 1.0)}
        self.X = np.clip((feats - self._scale["mean"]) / self._scale["sd"], -10, 10).astype(np.float32)

    def _features(self, adata, expr, mask, ref) -> np.ndarray:
        """Log expression of the model genes (expression) or the CNV signal, region rows."""
        import scipy.sparse as sp

        from ..preprocessing import log_normalize, select_genes

        X = expr.X
        if self.hparams["signal"] == "expression":
            if not self.is_trained:
                for note in expr.notes:
                    self.warn(note)
                sub = adata[mask]
                sel = select_genes(sub, self.hparams["n_top_genes"], expr=_subset(expr, mask))
                for note in sel.notes:
                    self.warn(note)
                self.preprocessing = {"input_values": expr.kind, "input_source": expr.source,
                                      "gene_selection": sel.record()}
                self.var_names = list(adata.var_names[sel.mask])
            idx = adata.var_names.get_indexer(self.var_names)
            return log_normalize(sp.csr_matrix(X[mask]))[:, idx].toarray()
        from ..tl.cnv import cnv_signal, gene_positions_of

        pos = gene_positions_of(adata, self.hparams["gene_positions"] or None)
        L = log_normalize(sp.csr_matrix(X))
        if self.is_trained:
            genes = list(self.var_names)
        else:
            detected = np.asarray((L > 0).mean(0)).ravel() >= 0.05
            genes = [g for g, d in zip(adata.var_names, detected, strict=True) if d]
        idx = adata.var_names.get_indexer(genes)
        use = mask | (ref if ref is not None else False)
        if ref is None or not ref.any():
            self.warn("no reference spots: the CNV signal is relative to the region's own mean")
        sig, ordered, chroms = cnv_signal(L[use][:, idx].toarray(), genes, pos,
                                          reference=(ref[use] if ref is not None else None))
        if not self.is_trained:
            self.var_names, self._chroms = ordered, chroms
            self.preprocessing = {"input_values": expr.kind, "signal": "cnv",
                                  "n_genes": len(ordered), "n_chromosomes": len(set(chroms)),
                                  "n_reference": int(ref.sum()) if ref is not None else 0}
        return sig[mask[use]]

    # -- training ---------------------------------------------------------------------------
    def fit_iter(self, adata, *, device: str = "auto", seed: int = 0) -> Iterator[Progress]:
        self.is_trained, self.var_names, self.history = False, None, {}
        yield from super().fit_iter(adata, device=device, seed=seed)

    def _fit_iter(self) -> Iterator[Progress]:
        import torch

        from .._settings import seed_everything_local, torch_generator
        from .nn._robust_ae import RobustAutoencoder

        h = self.hparams
        seed_everything_local(self.seed)
        self._arch = {"n_input": self.X.shape[1], "n_hidden": h["n_hidden"],
                      "n_latent": h["n_latent"]}
        self.module = RobustAutoencoder(**self._arch).to(self.device)
        x = torch.from_numpy(self.X).to(self.device)
        s = torch.zeros_like(x)
        gen = torch_generator(self.seed)
        rounds = h["n_rounds"] if h["robust"] else 1
        per = [len(c) for c in np.array_split(np.arange(h["epochs"]), rounds)]
        done = 0
        for r, n_ep in enumerate(per):
            plan = TrainingPlan(n_epochs=n_ep, lr=h["lr"], weight_decay=1e-6)
            clean = x - s

            def batches(clean=clean):
                perm = torch.randperm(len(clean), generator=gen)
                for rows in torch.tensor_split(perm, max(1, int(np.ceil(len(clean) / h["batch_size"])))):
                    yield {"x": clean[rows.to(self.device)]}

            for p in plan.run(self.module, batches, history=self.history, label=self.name):
                done += 1
                yield Progress(done, h["epochs"], f"{self.name}: round {r + 1}/{rounds}, "
                               f"epoch {done}/{h['epochs']}", p.metrics)
            if h["robust"]:
                s = self.module.outlier_step(x, s, self._threshold(x, s))
                self.history.setdefault("outlier_fraction", []).append(float((s != 0).float().mean()))
        self._outlier = (s != 0).float().mean(1).cpu().numpy()
        self._clean = (x - s)
        self._finish(choose=True)

    def _threshold(self, x, s):
        """``sparsity`` robust SDs (1.4826 MAD) of each feature's residual."""
        import torch

        with torch.no_grad():
            self.module.eval()
            res = x - self.module({"x": x - s})["x_hat"]
            med = res.median(0).values
            mad = (res - med).abs().median(0).values * 1.4826
        return self.hparams["sparsity"] * torch.clamp(mad, min=1e-3)

    def _embed(self, x) -> np.ndarray:
        import torch

        self.module.eval()
        with torch.no_grad():
            return self.module({"x": x})["z"].cpu().numpy().astype(np.float64)

    def _finish(self, *, choose: bool) -> None:
        from ..clustering import choose_n_clusters, cluster_embedding, gaussian_classes

        self._z = self._embed(self._clean)
        k = self.hparams["n_subclones"]
        n = len(self._z)
        if not k:
            top = int(min(self.hparams["max_subclones"], n - 1))
            k, scores = choose_n_clusters(self._z, range(2, max(top, 2) + 1), seed=self.seed)
            self._k_scores = scores
        labels, conf = cluster_embedding(self._z, k, method="gmm", seed=self.seed)
        self._region_labels, self._region_conf = labels, conf
        self._clusters = gaussian_classes(self._z, labels)
        self._tree = subclone_tree(self._z, labels)

    def _infer(self) -> None:
        import torch

        from ._latent import assign_classes

        x = torch.from_numpy(self.X).to(self.device)
        self._clean = x
        self._outlier = np.zeros(len(x), dtype=np.float32)
        self._z = self._embed(x)
        self._region_labels, self._region_conf = assign_classes(self._z, self._clusters)
        self._tree = subclone_tree(self._z, self._region_labels)

    # -- results ----------------------------------------------------------------------------
    def _full(self, values: np.ndarray, fill=np.nan) -> np.ndarray:
        shape = (self.n_obs,) + np.asarray(values).shape[1:]
        out = np.full(shape, fill, dtype=np.float64 if fill is np.nan else object)
        out[self.mask] = values
        return out

    def get_latent(self) -> np.ndarray | None:
        return self._full(self._z).astype(np.float32) if self.is_trained else None

    def get_labels(self) -> np.ndarray | None:
        if not self.is_trained:
            return None
        return self._full(np.asarray([str(v + 1) for v in self._region_labels], dtype=object), None)

    def get_confidence(self) -> np.ndarray | None:
        return self._full(self._region_conf) if self.is_trained else None

    def write(self, adata, key_added: str | None = None) -> list[str]:
        """Write subclones (NaN outside the region), embedding, tree and markers."""
        from ._results import write_result

        self._require_trained()
        key = key_added or self.default_key
        if adata.n_obs != self.n_obs:
            raise ScdlError(f"{self.name}: the model ran on {self.n_obs} spots, adata has {adata.n_obs}")
        labels = self.get_labels()
        self._markers = self._subclone_markers(adata, labels)
        written = write_result(adata, key, confidence=self.get_confidence(),
                               embedding=self.get_latent(), info=self.provenance() | self.extra_uns())
        cats = [str(i + 1) for i in range(int(self._region_labels.max()) + 1)]
        adata.obs[key] = pd.Categorical(pd.Series(labels, index=adata.obs_names), categories=cats)
        adata.obs[f"{key}_outlier"] = self._full(self._outlier).astype(np.float32)
        return [f"obs['{key}']", f"obs['{key}_outlier']", *written]

    def _subclone_markers(self, adata, labels) -> pd.DataFrame | None:
        import anndata as ad

        from ..preprocessing import expression_input
        from ..tl.markers import filter_markers, markers

        lab = pd.Series(labels[self.mask]).astype(str)
        if lab.nunique() < 2:
            return None
        names = pd.Index(adata.obs_names[self.mask].astype(str))
        sub = ad.AnnData(X=expression_input(adata).X[self.mask],
                         obs=pd.DataFrame({"subclone": lab.to_numpy()}, index=names),
                         var=pd.DataFrame(index=pd.Index(adata.var_names.astype(str))))
        try:
            df = markers(sub, "subclone", normalize=True, min_pct=0.05)
        except ScdlError as err:
            self.warn(f"no subclone markers: {err}")
            return None
        return filter_markers(df, pval_adj_max=None, log2fc_min=None, top_n=N_MARKERS_KEPT)

    def provenance(self) -> dict[str, Any]:
        out = super().provenance()
        out["params"]["region"] = describe_region(self.hparams["region"], self.mask)
        return out

    def extra_uns(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "region": describe_region(self.hparams["region"], self.mask),
            "n_region_spots": int(self.mask.sum()),
            "tree": self._tree,
            "genes": list(self.var_names or []),
        }
        if self._k_scores:
            out["k_scores"] = {str(k): float(v) for k, v in self._k_scores.items()}
            out["k_criterion"] = "silhouette"
        if self._markers is not None:
            out["markers"] = self._markers.reset_index(drop=True)
        return out

    # -- persistence ------------------------------------------------------------------------
    def _module_state(self) -> dict[str, Any]:
        return {"arch": dict(self._arch), "scale": self._scale, "clusters": self._clusters}

    def _restore_module(self, state: dict[str, Any]) -> None:
        from .nn._robust_ae import RobustAutoencoder

        self._arch, self._scale = dict(state["arch"]), state["scale"]
        self._clusters = state["clusters"]
        self.module = RobustAutoencoder(**self._arch)


def _subset(expr, mask):
    from dataclasses import replace

    return replace(expr, X=expr.X[mask], notes=[])


def subclone_tree(z: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Average-linkage tree of the subclones' centroids in ``z``: scipy linkage matrix,
    centroid distances, sizes and a Newick string (subclones named "1", "2", ...)."""
    from scipy.cluster.hierarchy import linkage, to_tree
    from scipy.spatial.distance import pdist, squareform

    classes = np.unique(labels)
    names = [str(c + 1) for c in classes]
    cent = np.stack([z[labels == c].mean(0) for c in classes])
    d = pdist(cent)
    out: dict[str, Any] = {"labels": names, "sizes": [int((labels == c).sum()) for c in classes],
                           "distances": squareform(d) if len(classes) > 1 else np.zeros((1, 1)),
                           "method": "average linkage of centroid distances (euclidean)"}
    if len(classes) < 2:
        out["linkage"], out["newick"] = np.zeros((0, 4)), f"({names[0]});"
        return out
    link = linkage(d, method="average")
    out["linkage"] = link

    def newick(node, parent_height):
        if node.is_leaf():
            return f"{names[node.id]}:{parent_height:.4g}"
        inner = f"({newick(node.left, node.dist)},{newick(node.right, node.dist)})"
        return f"{inner}:{parent_height - node.dist:.4g}"

    root = to_tree(link)
    out["newick"] = newick(root, root.dist).rsplit(":", 1)[0] + ";"
    return out
