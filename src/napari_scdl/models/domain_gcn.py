"""``domain_gcn``: spatial domains with a graph-convolutional autoencoder (AnnData glue)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._settings import seed_everything_local, torch_generator
from ..clustering import GMM_STARTS
from ..errors import ModelSetupError, ScdlError
from ..graph import gcn_normalize
from . import register_model
from ._base import BaseModel, Param, Progress
from ._train import TrainingPlan

logger = logging.getLogger(__name__)


@register_model
class DomainGCN(BaseModel):
    """Spatial domains from expression, spot positions and histology with a graph
    convolutional network (after GraphST, Long et al. 2023, Nat. Commun. 14:1155, and
    STAGATE, Dong & Zhang 2022, Nat. Commun. 13:1739).

    Pipeline: highly variable genes -> log-normalised (not standardised per gene, as in
    STAGATE and SpaGCN) -> ``n_pcs`` principal components; sparse spatial graph (Visium
    hexagon rings, else kNN), edges optionally down-weighted where the H&E around two spots
    differs; a one-layer linear GCN encoder (as GraphST) and a GCN decoder trained to
    reconstruct the components (optionally with GraphST's deep-graph-infomax loss on
    feature-shuffled spots, ``w_contrastive``); the decoder output (expression denoised over
    the graph) -> PCA -> tied-covariance Gaussian mixture (mclust EEE analogue) ->
    neighbourhood majority refinement. ``n_networks`` networks are trained from different
    random starts and the partition most likely under the same Gaussian model of the input
    components averaged over the graph (a space common to all networks) is kept: training
    lands on one of a few partitions, and restarts, as in k-means' ``n_init``, make the
    better one the usual outcome. ``n_domains=0`` picks the number of domains in
    ``[k_min, k_max]`` by silhouette width (on the first network; the others use it).

    Writes
    ------
    ``obs['{key}']``
        domains (categorical, "0" is the largest).
    ``obs['{key}_confidence']``
        how likely each spot's domain is right: Laplace's rule of succession over the
        networks' votes on the spot and its neighbours (``uns['{key}']['confidence_method']``,
        :func:`~napari_scdl.clustering.spot_confidence`).
    ``obsm['X_{key}']``
        the embedding that was clustered.
    ``uns['{key}']``
        params, seed, device, versions, training history (of the kept network),
        ``n_domains``, ``histology_used``, ``networks`` (each network's ``seed``,
        ``log_likelihood`` and whether it was ``kept``), ``network_choice`` and, with
        ``n_domains=0``, ``auto_k_scores`` / ``auto_k_metric``.
    """

    name = "domain_gcn"
    description = "Graph-convolutional spatial domains (expression + spot graph + H&E)"
    citation = "after GraphST (Long et al. 2023, Nat. Commun. 14:1155)"
    default_key = "domain"
    spatial = True
    writes = ("obs['{key}']", "obs['{key}_confidence']", "obsm['X_{key}']", "uns['{key}']")
    params = (
        Param("n_domains", 7, "number of domains (0: choose automatically)", min=0, max=50),
        Param(
            "use_histology", True, "weight the spot graph by H&E similarity (if an image exists)"
        ),
        Param("epochs", 600, "training epochs (full graph)", min=1, max=5000),
        Param("refine", True, "smooth domains over the spot graph (a Potts prior by default)"),
        Param(
            "refine_method",
            "potts",
            "potts: the domains' mixture again with a Potts prior over the spot graph "
            "(hidden Markov random field); majority: neighbourhood majority vote",
            choices=("potts", "majority"),
            gui=False,
        ),
        Param(
            "potts_beta",
            2.0,
            "Potts interaction per neighbour in the same domain (log-odds)",
            min=0.0,
            max=20.0,
            gui=False,
        ),
        Param("n_top_genes", 3000, "highly variable genes used", min=50),
        Param("n_pcs", 50, "principal components fed to the network", min=5, max=500),
        Param(
            "scale_genes",
            False,
            "standardise every gene before PCA (False: highly expressed genes weigh more)",
            gui=False,
        ),
        Param("lr", 1e-3, "learning rate (Adam)", min=1e-6, max=1.0),
        Param(
            "n_neighbors",
            6,
            "spatial neighbours (Visium: 6 per hexagon ring)",
            min=2,
            max=60,
            gui=False,
        ),
        Param(
            "n_hidden",
            0,
            "hidden units of a second encoder layer (0: one linear GCN layer, as GraphST)",
            min=0,
            max=4096,
            gui=False,
        ),
        Param("n_latent", 64, "embedding dimensions of the GCN", min=2, max=512, gui=False),
        Param(
            "n_networks",
            3,
            "networks trained from different random starts; the domains of the one whose "
            "partition is most likely under a Gaussian model of the graph-smoothed "
            "expression are kept",
            min=1,
            max=10,
            gui=False,
        ),
        Param(
            "w_contrastive",
            0.0,
            "weight of GraphST's contrastive (deep graph infomax) loss beside the "
            "reconstruction's 1 (GraphST: 0.1); off by default: it doubles each epoch",
            min=0.0,
            gui=False,
        ),
        Param(
            "embedding",
            "reconstruction",
            "what is clustered",
            choices=("reconstruction", "latent"),
            gui=False,
        ),
        Param("n_cluster_pcs", 20, "PCs of the embedding that are clustered", min=2, gui=False),
        Param(
            "mixture_starts",
            GMM_STARTS,
            "EM starts of each network's Gaussian mixture (one from a Ward clustering, the "
            "others from k-means); the fit with the highest likelihood is kept",
            min=1,
            max=200,
            gui=False,
        ),
        Param(
            "cluster_method",
            "gmm",
            "clustering of the embedding",
            choices=("gmm", "kmeans", "leiden"),
            gui=False,
        ),
        Param("k_min", 3, "smallest number of domains tried when n_domains=0", min=2, gui=False),
        Param("k_max", 12, "largest number of domains tried when n_domains=0", min=2, gui=False),
        Param(
            "batch_key",
            "",
            "obs column naming each spot's slide (empty: one slide): one model over several "
            "slides (genes chosen over all slides, genes centred per slide, no graph edges between slides)",
            gui=False,
        ),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._x: np.ndarray | None = None
        self._adjacency: sp.csr_matrix | None = None
        self._edge_weight: sp.csr_matrix | None = None
        self._latent = self._labels = self._confidence = None
        self._auto_k: dict[int, float] | None = None
        self._networks: list[dict[str, Any]] = []  # one record per trained network
        self._histology_used = False
        # what applies the trained model to another slide (saved with it)
        self._projection: dict[str, np.ndarray] | None = None
        self._cluster_pca: dict[str, np.ndarray] | None = None
        self._classes: dict[str, np.ndarray] | None = None
        self._transferring = False
        self._gcn_adjacency: sp.csr_matrix | None = None  # D^-1/2 (A+I) D^-1/2 of the graph

    # -- setup ----------------------------------------------------------------------------
    def setup(self, adata) -> None:
        """Validate ``adata`` (all problems in one error) and prepare the network inputs
        (on copies: ``adata`` is not changed)."""
        for _ in self.setup_iter(adata):
            pass

    def setup_iter(self, adata) -> Iterator[Progress]:
        """:meth:`setup`, yielding between its steps (genes, graph, histology)."""
        from ..preprocessing import expression_input

        hp, problems = self.hparams, []
        X = expr = None
        try:
            expr = expression_input(adata)
            X = expr.X
        except ScdlError as err:
            problems.append(str(err))
        if "spatial" not in adata.obsm:
            problems.append(
                "adata.obsm['spatial'] (spot coordinates) is missing; read the "
                "sample with napari_scdl.io.read()"
            )
        if adata.n_obs < 10:
            problems.append(f"the sample has {adata.n_obs} spots; domains need at least 10")
        k_hi = hp["n_domains"] or hp["k_max"]
        if k_hi >= adata.n_obs:
            problems.append(f"{k_hi} domains must be fewer than the {adata.n_obs} spots")
        if not hp["n_domains"] and hp["k_min"] > hp["k_max"]:
            problems.append(f"k_min={hp['k_min']} is above k_max={hp['k_max']}")
        if X is not None and X.nnz == 0:
            problems.append("the expression matrix is all zeros")
        if problems:
            raise ModelSetupError(
                f"{self.name} cannot run on this sample:\n- " + "\n- ".join(problems)
            )
        yield Progress(0, 1, f"{self.name}: selecting genes")
        yield from self._prepare(adata, expr)

    def _prepare(self, adata, expr) -> Iterator[Progress]:
        from ..graph import build_graph
        from ..preprocessing import apply_projection, fit_projection, log_normalize

        hp, X = self.hparams, expr.X
        batches = None
        if hp["batch_key"]:  # several slides: see napari_scdl.cohort._batch
            from ..cohort import _batch

            batches = _batch.batch_indices(adata, hp["batch_key"], one=self._transferring)
        if self._transferring:  # the trained model's genes and projection
            genes = adata.var_names.get_indexer(self.var_names)
            L = log_normalize(X[:, genes])
            if batches is not None:
                L = _batch.centre_per_batch(L, batches)
            self._x = apply_projection(L, self._projection, own_mean=True)
        elif batches is not None:
            mask = _batch.joint_genes(self, adata, expr, batches, hp["n_top_genes"])
            self.var_names = list(adata.var_names[mask])
            L = _batch.centre_per_batch(log_normalize(X[:, mask]), batches)
            self._projection, self._x = fit_projection(
                L, hp["n_pcs"], seed=self.seed, scale=hp["scale_genes"]
            )
        else:
            X, mask = self.prepare_expression(adata, hp["n_top_genes"], expr=expr)
            self.var_names = list(adata.var_names[mask])
            L = log_normalize(X[:, mask])
            self._projection, self._x = fit_projection(
                L, hp["n_pcs"], seed=self.seed, scale=hp["scale_genes"]
            )
        yield Progress(0, 1, f"{self.name}: building the spot graph")
        if batches is not None:
            self._adjacency = _batch.block_graph(adata, batches, n_neighbors=hp["n_neighbors"])
        else:
            self._adjacency = build_graph(adata, n_neighbors=hp["n_neighbors"])
        self._edge_weight, self._histology_used = self._adjacency, False
        if hp["use_histology"] and batches is not None:
            weights = _batch.histology_block_weights(adata, self._adjacency, batches)
            if weights is None:
                self.warn(
                    "use_histology is on but not every slide has a tissue image in "
                    "adata.uns['spatial'][<slide>]: the spot graph is not weighted by histology"
                )
            else:
                self._edge_weight, self._histology_used = weights, True
        elif hp["use_histology"]:
            from ..histology import spot_image_features

            yield Progress(0, 1, f"{self.name}: reading the tissue image around each spot")
            feats = spot_image_features(adata)
            if feats is None:
                self.warn(
                    "use_histology is on but the sample has no tissue image in "
                    "adata.uns['spatial']: the spot graph is not weighted by histology"
                )
            else:
                self._edge_weight = histology_weights(self._adjacency, feats)
                self._histology_used = True
        self._gcn_adjacency = gcn_normalize(self._edge_weight)
        logger.info(
            "%s: %d spots, %d HVGs -> %d PCs, %d edges",
            self.name,
            adata.n_obs,
            len(self.var_names),
            self._x.shape[1],
            self._adjacency.nnz,
        )

    # -- training -------------------------------------------------------------------------
    def _fit_iter(self) -> Iterator[Progress]:
        import torch

        from ..clustering import (
            choose_n_clusters,
            partition_log_likelihood,
            spot_confidence,
        )
        from .nn._sparse import csr_tensor

        hp = self.hparams
        epochs, n_nets = hp["epochs"], hp["n_networks"]
        x = torch.from_numpy(self._x).to(self.device)
        adj = csr_tensor(self._gcn_adjacency, self.device)
        readout = csr_tensor(with_self_loops(self._adjacency), self.device)
        # the linear encoder's reconstruction needs the input propagated twice: once here
        # instead of two sparse products a step (see nn.DomainGCN.decode_propagated)
        a2x = self._gcn_adjacency @ (self._gcn_adjacency @ self._x)
        deg = np.asarray(self._gcn_adjacency.sum(1), dtype=np.float32).ravel()
        fast = {
            "a2x": torch.from_numpy(np.ascontiguousarray(a2x, dtype=np.float32)).to(self.device),
            "deg": torch.from_numpy(deg).to(self.device),
        }
        del a2x
        if x.shape[0] >= GRAM_TRAINING_SPOTS and hp["w_contrastive"] <= 0 and not hp["n_hidden"]:
            # the same loss from second moments (nn.DomainGCN.gram_loss): a step no
            # longer costs a pass over the spots
            from .nn._gcn import gram_statistics

            fast = {"gram": gram_statistics(fast["a2x"], fast["deg"], x)}
        # the common space in which the networks' partitions are compared: the input
        # components averaged over each spot's graph neighbourhood (one GCN propagation)
        smoothed = np.asarray(self._gcn_adjacency @ self._x, dtype=np.float64)
        n_init = hp["mixture_starts"]  # EM starts of each network's mixture
        best, self._networks, k, auto_k = None, [], hp["n_domains"], None
        partitions = []  # every network's domains: their agreement enters the confidence
        for r in range(n_nets):
            seed = network_seed(self.seed, r)
            label = self.name if n_nets == 1 else f"{self.name} (network {r + 1}/{n_nets})"
            history: dict[str, list[float]] = {}
            for p in self._train_network(seed, x, adj, readout, history, label, fast):
                yield Progress(r * epochs + p.step, n_nets * epochs, p.message, p.metrics)
            yield Progress((r + 1) * epochs, n_nets * epochs, f"{label}: clustering")
            latent, pca = self._reduce(self._embed(x, adj), seed)
            if not k:  # auto-k: chosen on the first network, used by every network
                k_range = range(hp["k_min"], hp["k_max"] + 1)
                k, auto_k = choose_n_clusters(latent, k_range, seed=seed)
            result = self._cluster(latent, pca, k=k, n_init=n_init, seed=seed)
            partitions.append(result["labels"])
            score = partition_log_likelihood(smoothed, result["labels"])
            self._networks.append({"seed": seed, "log_likelihood": score, "kept": False})
            if best is None or score > best[0]:
                best = (score, r, self.module, history, result)
        _, chosen, self.module, self.history, result = best
        self._networks[chosen]["kept"] = True
        result["confidence"] = spot_confidence(
            result["labels"],
            adjacency=self._adjacency,
            alternatives=[p for i, p in enumerate(partitions) if i != chosen],
        )
        for attr, value in result.items():
            setattr(self, f"_{attr}", value)
        self._auto_k = auto_k

    def _train_network(
        self, seed, x, adj, readout, history, label, fast=None
    ) -> Iterator[Progress]:
        """Build a network from ``seed`` as ``self.module`` and train it on the prepared
        tensors (full graph; ``perm`` shuffles the spots for the contrastive loss)."""
        import torch

        from .nn._gcn import DomainGCN as Net

        hp = self.hparams
        seed_everything_local(seed)
        self.module = Net(
            self._x.shape[1], n_hidden=hp["n_hidden"], n_latent=hp["n_latent"]
        ).to(self.device)
        gen = torch_generator(seed, self.device)

        def batches():
            perm = None
            if hp["w_contrastive"] > 0:
                perm = torch.randperm(x.shape[0], generator=gen, device=self.device)
            yield {"x": x, "adj": adj, "readout": readout, "perm": perm, **(fast or {})}

        plan = TrainingPlan(
            n_epochs=hp["epochs"],
            lr=hp["lr"],
            loss_weights={"w_rec": 1.0, "w_dgi": hp["w_contrastive"]},
        )
        if fast and "gram" in fast and self.device == "cpu":
            # a step is a handful of 52 x 50 products: one thread (with two, OpenMP's
            # barriers made each step ~40x slower, 29 ms against 1 ms)
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                yield from plan.run(self.module, batches, history=history, label=label)
            finally:
                torch.set_num_threads(before)
            return
        yield from plan.run(self.module, batches, history=history, label=label)

    def _embed(self, x=None, adj=None) -> np.ndarray:
        """The embedding that is clustered (the decoder's output or the latent) of the
        prepared inputs (``x``/``adj``: their tensors, when already on the device)."""
        import torch

        from .nn._sparse import csr_tensor

        if x is None:
            x = torch.from_numpy(self._x).to(self.device)
            adj = csr_tensor(self._gcn_adjacency, self.device)
        self.module.eval()
        with torch.no_grad():
            z, x_hat = self.module(x, adj)
        return (z if self.hparams["embedding"] == "latent" else x_hat).cpu().numpy()

    def _reduce(self, emb: np.ndarray, seed: int) -> tuple[np.ndarray, Any]:
        """The ``n_cluster_pcs`` principal components of an embedding (and their PCA)."""
        from sklearn.decomposition import PCA

        n_comp = int(min(self.hparams["n_cluster_pcs"], emb.shape[1], emb.shape[0] - 1))
        pca = PCA(n_comp, random_state=seed)
        return pca.fit_transform(emb).astype(np.float32), pca

    def _cluster(
        self, latent: np.ndarray, pca: Any, *, k: int, n_init: int, seed: int
    ) -> dict[str, Any]:
        """Domains of one network's reduced embedding (``_reduce``): mixture, refinement;
        the confidence of this network alone (``_fit_iter`` adds the others' agreement)."""
        from ..clustering import cluster_embedding, gaussian_classes, spot_confidence

        hp = self.hparams
        labels, _ = cluster_embedding(
            latent,
            k,
            method=hp["cluster_method"],
            seed=seed,
            adjacency=self._adjacency,
            refine=hp["refine"],
            n_init=n_init,
            refine_method=hp["refine_method"],
            potts_beta=hp["potts_beta"],
        )
        return {
            "latent": latent,
            "labels": labels,
            "confidence": spot_confidence(labels, adjacency=self._adjacency),
            "cluster_pca": {"mean": pca.mean_, "components": pca.components_},
            "classes": gaussian_classes(latent, labels),
        }

    # -- applying the trained model to another slide ---------------------------------------
    def transform(self, adata) -> DomainGCN:
        """Domains of ``adata`` from the trained (or loaded) model, without training: the
        same genes and expression projection (genes centred on this slide's own means,
        which removes a slide-wide shift: on synthetic slides of other seeds, ARI
        0.87-0.92 against 0.33-0.66 with the training slide's means), the network on
        ``adata``'s own spot graph, and each spot assigned to the trained domains by the
        domains' Gaussian model."""
        if self.is_trained and self._classes is None:
            raise ScdlError(
                f"{self.name}: this model was saved before domains could be transferred; "
                "train it again"
            )
        self._transferring = True
        try:
            return super().transform(adata)
        finally:
            self._transferring = False

    def _infer(self) -> None:
        from ..clustering import refine_labels, spot_confidence
        from ._latent import assign_classes

        emb = self._embed()
        cp = self._cluster_pca
        self._latent = ((emb - cp["mean"]) @ cp["components"].T).astype(np.float32)
        labels, _ = assign_classes(self._latent, self._classes)
        if self.hparams["refine"]:
            labels = refine_labels(labels, self._adjacency)
        self._labels = labels
        self._confidence = spot_confidence(labels, adjacency=self._adjacency)
        self._auto_k = None
        self._networks = []
        self._transferred = True

    # -- results (the getters are BaseModel's: they return _latent, _labels, ...) -----------
    def extra_uns(self) -> dict[str, Any]:
        from ..clustering import CONFIDENCE_METHOD

        out: dict[str, Any] = {
            "n_domains": int(self._labels.max()) + 1 if self._labels is not None else 0,
            "histology_used": bool(self._histology_used),
            "genes": list(self.var_names or []),
            "transferred": bool(getattr(self, "_transferred", False)),
            "confidence_method": CONFIDENCE_METHOD,
        }
        if self._networks:
            out["networks"] = {  # one entry per network, in training order
                key: np.asarray([r[key] for r in self._networks])
                for key in ("seed", "log_likelihood", "kept")
            }
            out["network_choice"] = (
                "per-spot log-likelihood of the partition under a shared-covariance Gaussian "
                "model of the graph-smoothed expression components (higher is kept)"
            )
        if self._auto_k is not None:
            out["auto_k_scores"] = {str(k): float(v) for k, v in self._auto_k.items()}
            out["auto_k_metric"] = "silhouette width (higher is better)"
        return out

    # -- persistence ------------------------------------------------------------------------
    def _module_state(self) -> dict[str, Any]:
        m = self.module
        return {
            "n_input": m.n_input,
            "n_hidden": m.n_hidden,
            "n_latent": m.n_latent,
            "projection": self._projection,
            "cluster_pca": self._cluster_pca,
            "classes": self._classes,
        }

    def _restore_module(self, state: dict[str, Any]) -> None:
        from .nn._gcn import DomainGCN as Net

        self.module = Net(state["n_input"], n_hidden=state["n_hidden"], n_latent=state["n_latent"])
        self._projection = state.get("projection")
        self._cluster_pca = state.get("cluster_pca")
        self._classes = state.get("classes")


# -- graph helpers (sparse throughout) -------------------------------------------------------
def histology_weights(adjacency: sp.spmatrix, feats: np.ndarray) -> sp.csr_matrix:
    """Edge weights ``(1 + exp(-d^2 / (2 median d^2))) / 2`` of standardised image features
    ``d`` between neighbours: an edge across an H&E boundary counts down to half.

    The floor at one half is measured: on DLPFC 151673, where the cortical layers barely
    differ in the H&E, the unfloored weights cost 0.03 ARI (0.559 against 0.589 without
    histology, 5 seeds); with the floor, 0.588."""
    a = sp.coo_matrix(adjacency)
    f = (feats - feats.mean(0)) / np.maximum(feats.std(0), 1e-8)
    d2 = ((f[a.row] - f[a.col]) ** 2).sum(1)
    scale = float(np.median(d2)) if d2.size else 1.0
    w = (0.5 + 0.5 * np.exp(-d2 / (2 * max(scale, 1e-8)))).astype(np.float32)
    return sp.csr_matrix((w, (a.row, a.col)), shape=a.shape)


def with_self_loops(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """Binary ``A + I``: the neighbourhood sum (DGI's local readout)."""
    a = sp.csr_matrix(adjacency, dtype=np.float32, copy=True)
    a.data[:] = 1.0
    return sp.csr_matrix(a + sp.eye(a.shape[0], dtype=np.float32), dtype=np.float32)


def network_seed(seed: int, index: int) -> int:
    """Seed of the ``index``-th network of a run with ``seed`` (the first uses ``seed``
    itself; the others are drawn from it, independent of the runs with other seeds)."""
    if index == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] >> 1)


#: from this many spots on, the default (linear-encoder, reconstruction-only) network is
#: trained on the second moments of its inputs (:meth:`nn.DomainGCN.gram_loss`: the same
#: loss and gradients, float64 sums instead of float32 ones). 0: at every size (on
#: 151673, A1 and D1, seeds 0-2, the same domains as training on the propagated input,
#: 1.6 s faster a run on 151673)
GRAM_TRAINING_SPOTS = 0

#: spots per torch CPU thread: below this, threading overhead outweighs the work (and
#: costs several-fold when another process shares the cores)
SPOTS_PER_THREAD = 25_000
