"""``gene_programs``: the genes that drive each domain, from a heterogeneous graph
transformer's attention (DeepMAPS-like)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import ModelSetupError, ScdlError
from . import register_model
from ._base import BaseModel, Param, Progress
from ._train import TrainingPlan

N_FEATURES = 50
N_NETWORK_GENES = 20

#: above this many spots an epoch trains on the subgraph of random spatial tiles holding
#: about this many spots (full-graph epochs at 30,000 spots took > 20 min and 9.5 GB)
TRAIN_SPOTS = 6_000

#: spots per spatial tile of that sampling
TRAIN_TILE_SPOTS = 400


def _spatial_tiles(xy: np.ndarray, per_tile: int) -> list[np.ndarray]:
    """Spot indices of square tiles of the tissue holding ~``per_tile`` spots each."""
    lo, hi = xy.min(0), xy.max(0)
    area = float(np.prod(np.maximum(hi - lo, 1e-9)))
    side = np.sqrt(area * per_tile / len(xy))
    cell = np.floor((xy - lo) / side).astype(np.int64)
    key = cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1]
    order = np.argsort(key, kind="stable")
    _, starts = np.unique(key[order], return_index=True)
    return np.split(order, starts[1:])


@register_model
class GeneProgramsModel(BaseModel):
    """Gene programs per group (after DeepMAPS, Ma et al. 2023, Nat Commun 14:535; HGT, Hu
    et al. 2020).

    A heterogeneous graph of spots and genes (a spot links to the genes it expresses above
    their mean, at most ``max_genes_per_spot`` of them; spots link to their spatial
    neighbours) is embedded by ``n_layers`` HGTConv layers trained to reconstruct the
    spot-gene edges (weighted by expression) against random pairs. For each group of
    ``obs[groupby]`` (or, with no ``groupby``, each cluster of the spot embedding, as
    DeepMAPS does), a gene's score is the mean last-layer attention its edges receive from
    the group's spots minus that from the other spots; the ``n_program_genes`` best form
    the program. A gene-gene network per program links genes whose attention across the
    group's spots is correlated (co-attention).

    Writes
    ------
    ``obs['{key}_<group>']``
        program score of each spot: mean standardised expression of the program's genes.
    ``obsm['X_{key}']``
        the spot embedding.
    ``obs['{key}']``, ``obs['{key}_confidence']``
        only without ``groupby``: the clusters used as groups.
    ``uns['{key}']``
        ``programs`` (group, rank, gene, score, attention_in, attention_out), ``networks``
        (group, source, target, weight), ``score_columns``, ``groupby``, params, history.
    """

    name = "gene_programs"
    description = "gene programs per domain from heterogeneous graph transformer attention (DeepMAPS-like)"
    citation = "Ma et al. (2023) Nat Commun 14:535 (DeepMAPS); Hu et al. (2020) WWW (HGT)"
    default_key = "gene_programs"
    spatial = True
    writes = ("obs['{key}_<group>']", "obsm['X_{key}']", "uns['{key}']")
    params = (
        Param("groupby", "", "obs column whose groups get a program (domains, annotation); "
              "empty: clusters of the learnt embedding"),
        Param("n_groups", 7, "clusters used as groups when groupby is empty", min=2, max=50),
        Param("n_program_genes", 50, "genes kept per program", min=5, max=1000),
        Param("n_top_genes", 2000, "highly variable genes in the graph", min=10),
        Param("max_genes_per_spot", 100, "most gene edges of a spot (its highest)", min=5),
        Param("n_hidden", 64, "embedding size (divisible by n_heads)", min=8, max=1024),
        Param("n_heads", 4, "attention heads", min=1, max=16),
        Param("n_layers", 2, "HGT layers", min=1, max=4),
        Param("n_neighbors", 6, "spatial neighbours of a spot", min=1, max=30),
        Param("epochs", 60, "training epochs (full graph each)", min=1, max=5000),
        Param("lr", 5e-3, "learning rate (Adam)", min=1e-6, max=1.0),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.hparams["n_hidden"] % self.hparams["n_heads"]:
            raise ScdlError(f"{self.name}: n_hidden={self.hparams['n_hidden']} must be divisible "
                            f"by n_heads={self.hparams['n_heads']}")
        self._arch: dict[str, Any] = {}
        self._programs: pd.DataFrame | None = None
        self._networks: pd.DataFrame | None = None

    # -- inputs -----------------------------------------------------------------------------
    def setup(self, adata) -> None:
        """Check the grouping and build the spot-gene graph (all problems in one error)."""
        from ..preprocessing import expression_input

        problems, expr = [], None
        groupby = self.hparams["groupby"].strip()
        if groupby:
            from ..tl.markers import group_labels

            try:
                self._groups = group_labels(adata, groupby)
            except ScdlError as err:
                problems.append(str(err))
        if "spatial" not in adata.obsm:
            problems.append("adata.obsm['spatial'] (spot coordinates) is missing; read the "
                            "sample with napari_scdl.io.read()")
        try:
            expr = expression_input(adata)
        except ScdlError as err:
            problems.append(str(err))
        if adata.n_obs < 10:
            problems.append(f"the sample has {adata.n_obs} spots; at least 10 are needed")
        if problems:
            raise ModelSetupError(f"{self.name} cannot run on this sample:\n- " + "\n- ".join(problems))
        if not groupby:
            self._groups = None
            self.warn(f"no groupby given: programs are found for {self.hparams['n_groups']} "
                      "clusters of the learnt embedding; choose a domain or annotation column "
                      "to get programs of those groups")
        X, mask = self.prepare_expression(adata, self.hparams["n_top_genes"], expr=expr)
        self.var_names = list(adata.var_names[mask])
        self._build_graph(adata, X[:, np.flatnonzero(mask)])

    def _build_graph(self, adata, X) -> None:
        from ..graph import build_graph, to_edge_index
        from ..preprocessing import log_normalize, standardise_genes

        L = log_normalize(sp.csr_matrix(X))
        Z, _, _ = standardise_genes(L, scale=True)
        self.Z = Z.astype(np.float32)
        # spot -> gene edges: genes detected and above their mean in the spot; half of the
        # edges go to its most specific genes (highest z-score), half to its most expressed
        # (abundant markers such as myelin genes in white matter are not the most specific)
        Ld = L.toarray()
        ok = (Ld > 0) & (Z > 0)
        m = int(min(self.hparams["max_genes_per_spot"], Z.shape[1]))
        half = max(1, m // 2)
        chosen = np.zeros(Z.shape, dtype=bool)
        for value in (Z, Ld):
            v = np.where(ok, value, -np.inf)
            top = np.argpartition(-v, half - 1, axis=1)[:, :half]
            chosen[np.arange(Z.shape[0])[:, None], top] = True
        chosen &= ok
        rows, cols = np.nonzero(chosen)
        self.edge_spot, self.edge_gene = rows, cols
        self.edge_weight = np.clip(Z[rows, cols], 0, 5).astype(np.float32) / 5 + 0.1
        # node features: PCA of the standardised expression; genes take their loadings
        from sklearn.decomposition import PCA

        k = int(min(N_FEATURES, Z.shape[0] - 1, Z.shape[1] - 1))
        pca = PCA(k, random_state=self.seed, svd_solver="randomized").fit(Z)
        spot_x = pca.transform(Z)
        spot_x /= max(float(spot_x[:, 0].std()), 1e-8)
        gene_x = (pca.components_.T * np.sqrt(Z.shape[1])).astype(np.float32)
        self.x_spot, self.x_gene = spot_x.astype(np.float32), gene_x
        adj = build_graph(adata, n_neighbors=self.hparams["n_neighbors"])
        self.spatial_edges = to_edge_index(adj)[0]
        self.spot_xy = np.asarray(adata.obsm["spatial"], dtype=float)[:, :2]
        self.n_spots, self.n_genes = Z.shape

    def _batch(self):
        import torch

        from .nn._hgt import GENE_TO_SPOT, SPOT_TO_GENE, SPOT_TO_SPOT

        d = self.device
        s = torch.from_numpy(self.edge_spot.astype(np.int64))
        g = torch.from_numpy(self.edge_gene.astype(np.int64))
        return {
            "x_spot": torch.from_numpy(self.x_spot).to(d),
            "x_gene": torch.from_numpy(self.x_gene).to(d),
            "edges": {GENE_TO_SPOT: torch.stack([g, s]).to(d),
                      SPOT_TO_GENE: torch.stack([s, g]).to(d),
                      SPOT_TO_SPOT: self.spatial_edges.to(d)},
            "pos": torch.stack([s, g]).to(d),
            "weight": torch.from_numpy(self.edge_weight).to(d),
        }

    # -- training ---------------------------------------------------------------------------
    def fit_iter(self, adata, *, device: str = "auto", seed: int = 0) -> Iterator[Progress]:
        self.is_trained, self.var_names, self.history = False, None, {}
        yield from super().fit_iter(adata, device=device, seed=seed)

    def _fit_iter(self) -> Iterator[Progress]:
        import torch

        from .._settings import seed_everything_local, torch_generator
        from .nn._hgt import GeneProgramHGT

        h = self.hparams
        seed_everything_local(self.seed)
        self._arch = {"n_spot_features": self.x_spot.shape[1], "n_gene_features": self.x_gene.shape[1],
                      "n_hidden": h["n_hidden"], "n_heads": h["n_heads"], "n_layers": h["n_layers"]}
        self.module = GeneProgramHGT(**self._arch).to(self.device)
        base = self._batch()
        gen = torch_generator(self.seed)
        n_pos = base["pos"].shape[1]

        tiles = _spatial_tiles(self.spot_xy, TRAIN_TILE_SPOTS) \
            if self.n_spots > TRAIN_SPOTS else None
        if tiles is not None:
            self.warn(f"{self.n_spots:,} spots: each epoch trains on ~{TRAIN_SPOTS:,} spots "
                      "in random spatial tiles; programs and embedding use every spot")

        def batches():
            if tiles is not None:
                yield self._tile_batch(base, tiles, gen)
                return
            neg = torch.stack([torch.randint(0, self.n_spots, (n_pos,), generator=gen),
                               torch.randint(0, self.n_genes, (n_pos,), generator=gen)])
            yield base | {"neg": neg.to(self.device)}

        plan = TrainingPlan(n_epochs=h["epochs"], lr=h["lr"], weight_decay=1e-5)
        yield from plan.run(self.module, batches, history=self.history, label=self.name)
        self._finish(base)

    def _tile_batch(self, base: dict, tiles: list[np.ndarray], gen) -> dict:
        """The subgraph of random spatial tiles holding ~:data:`TRAIN_SPOTS` spots: their
        spot-gene edges, the spatial edges between them, every gene, random negatives."""
        import torch

        from .nn._hgt import GENE_TO_SPOT, SPOT_TO_GENE, SPOT_TO_SPOT

        order = torch.randperm(len(tiles), generator=gen).numpy()
        sizes = np.cumsum([len(tiles[t]) for t in order])
        take = order[: int(np.searchsorted(sizes, TRAIN_SPOTS)) + 1]
        spots = np.sort(np.concatenate([tiles[t] for t in take]))
        local = np.full(self.n_spots, -1, np.int64)
        local[spots] = np.arange(len(spots))
        e = np.flatnonzero(local[self.edge_spot] >= 0)
        s = torch.from_numpy(local[self.edge_spot[e]])
        g = torch.from_numpy(self.edge_gene[e].astype(np.int64))
        near = local[self.spatial_edges.numpy()]
        near = torch.from_numpy(near[:, (near >= 0).all(0)])
        n_pos = len(e)
        neg = torch.stack([torch.randint(0, len(spots), (n_pos,), generator=gen),
                           torch.randint(0, self.n_genes, (n_pos,), generator=gen)])
        d = self.device
        return {
            "x_spot": base["x_spot"][torch.from_numpy(spots).to(d)],
            "x_gene": base["x_gene"],
            "edges": {GENE_TO_SPOT: torch.stack([g, s]).to(d),
                      SPOT_TO_GENE: torch.stack([s, g]).to(d),
                      SPOT_TO_SPOT: near.to(d)},
            "pos": torch.stack([s, g]).to(d),
            "weight": base["weight"][torch.from_numpy(e).to(d)],
            "neg": neg.to(d),
        }

    def _finish(self, batch) -> None:
        import torch

        from ..clustering import cluster_embedding

        self.module.eval()
        with torch.no_grad():
            self._latent = self.module(batch)["spot"].cpu().numpy()
        alpha = self.module.attention(batch).cpu().numpy()
        self.attention = sp.csr_matrix((alpha, (self.edge_spot, self.edge_gene)),
                                       shape=(self.n_spots, self.n_genes))
        if self._groups is None:
            k = int(min(self.hparams["n_groups"], self.n_spots - 1))
            lab, conf = cluster_embedding(self._latent, k, method="gmm", seed=self.seed)
            self._labels = np.asarray([str(v) for v in lab], dtype=object)
            self._confidence = conf
            groups = pd.Categorical(self._labels, categories=[str(i) for i in range(k)])
        else:
            groups = self._groups
            self._labels = self._confidence = None
        self._programs, self._networks = program_tables(
            self.attention, groups, self.var_names, n_genes=self.hparams["n_program_genes"])
        self._group_values = groups

    # -- results ----------------------------------------------------------------------------
    def program_scores(self) -> dict[str, np.ndarray]:
        """Per group, each spot's mean standardised expression of the program's genes."""
        col = {g: j for j, g in enumerate(self.var_names)}
        out = {}
        for group, df in self._programs.groupby("group", sort=False, observed=True):
            idx = [col[g] for g in df["gene"]]
            out[str(group)] = self.Z[:, idx].mean(1)
        return out

    def write(self, adata, key_added: str | None = None) -> list[str]:
        """Write programs, networks, the embedding and a score column per program."""
        from ._results import write_result

        self._require_trained()
        key = key_added or self.default_key
        prev = adata.uns.get(key)
        if isinstance(prev, dict) and "score_columns" in prev:
            for c in dict(prev["score_columns"]).values():
                if c in adata.obs:
                    del adata.obs[c]
        cols = {g: f"{key}_{g}" for g in self._programs["group"].unique()}
        info = self.provenance() | {
            "groupby": self.hparams["groupby"] or key,
            "groups": list(cols),
            "programs": self._programs,
            "networks": self._networks,
            "score_columns": cols,
            "genes": list(self.var_names),
        }
        written = write_result(adata, key, labels=self._labels, confidence=self._confidence,
                               embedding=self._latent, info=info)
        for g, values in self.program_scores().items():
            adata.obs[cols[g]] = values.astype(np.float32)
        return [f"obs['{key}_<group>'] ({len(cols)} programs)", *written]

    # -- persistence ------------------------------------------------------------------------
    def _module_state(self) -> dict[str, Any]:
        return {"arch": dict(self._arch)}

    def _restore_module(self, state: dict[str, Any]) -> None:
        from .nn._hgt import GeneProgramHGT

        self._arch = dict(state["arch"])
        self.module = GeneProgramHGT(**self._arch)


def program_tables(attention: sp.csr_matrix, groups: pd.Categorical, genes: list[str], *,
                   n_genes: int = 50, n_network: int = N_NETWORK_GENES
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Programs and co-attention networks from spot x gene attention (see the model)."""
    A = sp.csr_matrix(attention)
    names = np.asarray(genes, dtype=object)
    codes = np.asarray(groups.codes)
    progs, nets = [], []
    for j, group in enumerate(groups.categories):
        inside, outside = codes == j, (codes >= 0) & (codes != j)
        if not inside.any():
            continue
        a_in = np.asarray(A[inside].mean(0)).ravel()
        a_out = np.asarray(A[outside].mean(0)).ravel() if outside.any() else np.zeros_like(a_in)
        score = a_in - a_out
        order = np.argsort(-score, kind="stable")[: min(n_genes, len(score))]
        progs.append(pd.DataFrame({"group": str(group), "rank": np.arange(1, len(order) + 1),
                                   "gene": names[order], "score": score[order],
                                   "attention_in": a_in[order], "attention_out": a_out[order]}))
        nets.append(_co_attention(A[inside][:, order[:n_network]], names[order[:n_network]], str(group)))
    cols = ["group", "source", "target", "weight"]
    net = pd.concat(nets, ignore_index=True) if nets else pd.DataFrame(columns=cols)
    return pd.concat(progs, ignore_index=True), net[cols]


def _co_attention(A: sp.csr_matrix, names: np.ndarray, group: str, per_gene: int = 3) -> pd.DataFrame:
    """Edges between genes whose attention over the group's spots correlates (each gene
    keeps its ``per_gene`` strongest positive partners)."""
    M = A.toarray()
    if M.shape[1] < 2 or M.shape[0] < 3:
        return pd.DataFrame(columns=["group", "source", "target", "weight"])
    with np.errstate(invalid="ignore", divide="ignore"):
        C = np.nan_to_num(np.corrcoef(M.T), nan=0.0)
    np.fill_diagonal(C, 0.0)
    edges = {}
    for i in range(C.shape[0]):
        for j in np.argsort(-C[i])[:per_gene]:
            if C[i, j] > 0:
                edges[tuple(sorted((i, int(j))))] = float(C[i, j])
    rows = [(group, names[i], names[j], w) for (i, j), w in edges.items()]
    return pd.DataFrame(rows, columns=["group", "source", "target", "weight"])
