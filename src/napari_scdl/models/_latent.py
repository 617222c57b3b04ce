"""Shared AnnData glue of the expression models (``vae``, ``autoencoder``, ``stagate``,
``gnn_impute``): gene selection, inputs, clustering of the embedding, persistence and
application to a second slide.

A subclass declares its own :class:`Param` entries (plus :data:`CLUSTER_PARAMS`), builds
its network in ``_build_module(**arch)`` and trains it in ``_train()``; it computes its
outputs in ``_compute() -> (latent, imputed)``. Imputed expression is always on the
log-normalised scale ``log1p(10^4 * count / total counts of the spot)`` for the model's
genes (listed in ``uns[key]['genes']``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._settings import seed_everything_local
from ..clustering import gaussian_classes
from ..errors import ModelSetupError, ScdlError
from ._base import BaseModel, Param, Progress

logger = logging.getLogger(__name__)

TARGET_SUM = 1e4

GENE_PARAM = Param("n_top_genes", 2000, "highly variable genes the model uses", min=10)
CLUSTER_PARAMS = (
    Param("n_clusters", 7, "clusters of the embedding written to obs (0: do not cluster)", min=0),
    Param(
        "cluster_method",
        "gmm",
        "how the embedding is clustered",
        choices=("gmm", "kmeans", "leiden"),
    ),
)


@dataclass
class Inputs:
    """What ``setup`` prepared (model genes only; nothing here refers back to ``adata``)."""

    counts: sp.csr_matrix  # spots x model genes, raw counts
    total: np.ndarray  # total counts of each spot over all genes (normalisation)
    adjacency: sp.csr_matrix | None = None  # spatial graph (spatial models)
    covariate: np.ndarray | None = None  # batch codes

    @property
    def n_obs(self) -> int:
        return self.counts.shape[0]

    def lognorm(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Dense ``log1p(10^4 * counts / total)`` of ``rows``."""
        x = self.counts[rows].toarray()
        total = np.maximum(self.total[rows], 1.0)[:, None]
        return np.log1p(x * (TARGET_SUM / total)).astype(np.float32)


class LatentModel(BaseModel):
    """Base of the models that embed spots, may impute expression and cluster."""

    writes = ("obsm['X_{key}']", "obs['{key}']", "obs['{key}_confidence']", "uns['{key}']")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.inputs: Inputs | None = None
        self._arch: dict[str, Any] = {}
        self._clusters: dict[str, np.ndarray] | None = None
        self._latent: np.ndarray | None = None
        self._imputed: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        self._confidence: np.ndarray | None = None
        self._transferred = False

    # -- setup ----------------------------------------------------------------------------
    def setup(self, adata) -> None:
        """Validate ``adata`` (every problem in one :class:`ModelSetupError`) and prepare the
        model genes' counts. A trained model uses its own genes; an untrained one selects
        ``n_top_genes`` highly variable genes. ``adata`` is not modified."""
        from ..preprocessing import expression_input

        problems: list[str] = []
        X = expr = None
        try:
            expr = expression_input(adata)
            X = expr.X
        except ScdlError as err:
            problems.append(str(err))
        if self.is_trained and self.var_names is not None:
            missing = [g for g in self.var_names if g not in adata.var_names]
            if missing:
                problems.append(
                    f"{len(missing)} of the model's {len(self.var_names)} genes are missing "
                    f"(e.g. {missing[:5]}); apply it to a slide with the same genes"
                )
        k = self.hparams.get("n_clusters", 0)
        if k and k >= adata.n_obs:
            problems.append(f"n_clusters={k} must be below the number of spots ({adata.n_obs})")
        if adata.n_obs < 3:
            problems.append(f"the sample has {adata.n_obs} spots; a model needs at least 3")
        if (self.spatial or self.hparams.get("refine")) and "spatial" not in adata.obsm:
            problems.append(
                "adata.obsm['spatial'] (spot coordinates) is missing; read the sample with "
                "napari_scdl.io.read()"
            )
        problems += self._check(adata)
        if problems:
            raise ModelSetupError(
                f"{self.name} cannot run on this sample:\n- " + "\n- ".join(problems)
            )
        if self.is_trained and self.var_names is not None:
            genes = list(self.var_names)
        else:
            X, mask = self.prepare_expression(adata, self.hparams["n_top_genes"], expr=expr)
            genes = list(adata.var_names[mask])
            self.var_names = genes
        idx = adata.var_names.get_indexer(genes)
        adjacency = None
        if self.spatial or self.hparams.get("refine"):
            from ..graph import build_graph

            adjacency = build_graph(adata, n_neighbors=self.hparams.get("n_neighbors", 6))
        self.inputs = Inputs(
            counts=sp.csr_matrix(X[:, idx]),
            total=np.asarray(X.sum(1), dtype=np.float64).ravel(),
            adjacency=adjacency,
            covariate=self._covariate(adata),
        )
        logger.info("%s: %d spots x %d genes", self.name, adata.n_obs, len(genes))

    def _check(self, adata) -> list[str]:
        """Model-specific problems with ``adata`` (override)."""
        return []

    def _covariate(self, adata) -> np.ndarray | None:
        """Model-specific per-spot covariate codes (override)."""
        return None

    # -- training ---------------------------------------------------------------------------
    def fit_iter(self, adata, *, device: str = "auto", seed: int = 0) -> Iterator[Progress]:
        """Set up on ``adata`` (selecting genes afresh) and train, yielding progress."""
        self.is_trained, self.var_names, self.history = False, None, {}
        self._clusters, self._transferred = None, False
        yield from super().fit_iter(adata, device=device, seed=seed)

    def _fit_iter(self) -> Iterator[Progress]:
        seed_everything_local(self.seed)
        self._arch = self._arch_from_inputs()
        self.module = self._build_module(**self._arch).to(self.device)
        yield from self._train()
        self._latent, self._imputed = self._compute()
        self._fit_clusters()

    def _arch_from_inputs(self) -> dict[str, Any]:
        """Constructor arguments of the network for the prepared inputs (override)."""
        raise NotImplementedError

    def _build_module(self, **arch: Any):
        """The network for ``arch`` (also used by :meth:`load`) (override)."""
        raise NotImplementedError

    def _train(self) -> Iterator[Progress]:
        raise NotImplementedError

    def _compute(self) -> tuple[np.ndarray, np.ndarray | None]:
        """``(latent, imputed or None)`` for the prepared inputs, with the trained module."""
        raise NotImplementedError

    def _generator(self):
        from .._settings import torch_generator

        return torch_generator(self.seed)

    def _minibatches(self, batch_size: int, gen) -> list[np.ndarray]:
        """Shuffled row indices in near-equal batches (none smaller than half a batch, so
        BatchNorm never sees a single spot)."""
        import torch

        n = self.inputs.n_obs
        perm = torch.randperm(n, generator=gen).numpy()
        return np.array_split(perm, max(1, int(np.ceil(n / batch_size))))

    # -- clustering -------------------------------------------------------------------------
    def _fit_clusters(self) -> None:
        from ..clustering import cluster_embedding

        k = self.hparams.get("n_clusters", 0)
        if not k:
            self._labels = self._confidence = None
            return
        self._labels, _ = cluster_embedding(
            self._latent,
            k,
            method=self.hparams["cluster_method"],
            seed=self.seed,
            adjacency=self.inputs.adjacency,
            refine=bool(self.hparams.get("refine", False)),
        )
        self._clusters = gaussian_classes(self._latent, self._labels)
        self._confidence = self._spot_confidence()

    def _spot_confidence(self) -> np.ndarray:
        """:func:`~napari_scdl.clustering.spot_confidence` of the clusters (over the spatial
        graph when there is one, else over nearest neighbours in the embedding)."""
        from ..clustering import spot_confidence

        adjacency = self.inputs.adjacency if self.inputs is not None else None
        return spot_confidence(self._labels, adjacency=adjacency, embedding=self._latent)

    def _infer(self) -> None:
        self._latent, self._imputed = self._compute()
        self._transferred = True
        if self._clusters is None:
            self._labels = self._confidence = None
            return
        self._labels, _ = assign_classes(self._latent, self._clusters)
        self._confidence = self._spot_confidence()

    # -- results (the getters are BaseModel's: they return _latent, _labels, ...) -----------
    def extra_uns(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "genes": list(self.var_names or []),
            "transferred": self._transferred,
        }
        if self._labels is not None:
            from ..clustering import CONFIDENCE_METHOD

            out["confidence_method"] = CONFIDENCE_METHOD
        if self._imputed is not None:
            out["imputed_scale"] = "log1p(1e4 * counts / total counts of the spot)"
        return out

    # -- persistence --------------------------------------------------------------------------
    def _module_state(self) -> dict[str, Any]:
        return {"arch": dict(self._arch), "clusters": self._clusters}

    def _restore_module(self, state: dict[str, Any]) -> None:
        self._arch = dict(state["arch"])
        self._clusters = state.get("clusters")
        self.module = self._build_module(**self._arch)


def assign_classes(
    latent: np.ndarray, model: dict[str, np.ndarray], *, return_proba: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and posterior probability of each spot under :func:`~napari_scdl.clustering.gaussian_classes`
    (with ``return_proba``, the posteriors of every class, columns in ``model['classes']``
    order, instead of the assigned class's)."""
    x = np.asarray(latent, dtype=np.float64)
    prec = np.linalg.inv(model["cov"])
    logp = np.empty((len(x), len(model["classes"])))
    for j, mu in enumerate(model["means"]):
        d = x - mu
        logp[:, j] = -0.5 * np.einsum("ij,jk,ik->i", d, prec, d) + np.log(model["weights"][j])
    logp -= logp.max(1, keepdims=True)
    p = np.exp(logp)
    p /= p.sum(1, keepdims=True)
    best = p.argmax(1)
    labels = model["classes"][best].astype(np.int64)
    if return_proba:
        return labels, p.astype(np.float32)
    return labels, p[np.arange(len(x)), best].astype(np.float32)
