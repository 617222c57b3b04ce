"""Expression preprocessing shared by the models (on a copy: the user's data is not changed)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from .errors import ScdlError

logger = logging.getLogger(__name__)


#: genes detected (count > 0) in fewer spots than this are dropped before gene selection
MIN_SPOTS_PER_GENE = 3

#: above this maximum, non-integer values are taken as linear (CPM-like), not log, values
_LOG_MAX = 30.0

ValueKind = Literal["counts", "log-normalised", "normalised", "scaled"]


@dataclass
class ExpressionInput:
    """What the models train on: raw counts, or pseudo-counts made from normalised values.

    ``X`` is float32 CSR, non-negative; ``kind`` says what the source held; ``source`` where
    it came from (``"X"``, ``"layers['counts']"``, ``"raw.X"``); ``notes`` are the warnings
    a user should see (a conversion that may cost accuracy)."""

    X: sp.csr_matrix
    kind: ValueKind
    source: str
    notes: list[str] = field(default_factory=list)


def looks_like_counts(X, n_check: int = 20_000) -> bool:
    """True when ``X`` holds non-negative integers (raw counts), judged on values sampled
    evenly through the matrix."""
    data = X.data if sp.issparse(X) else np.asarray(X).ravel()
    data = np.asarray(data[:: max(1, data.size // n_check)])
    if data.size == 0:
        return True
    return bool(np.all(data >= 0) and np.all(data == np.round(data)))


def expression_input(adata, layer: str | None = None) -> ExpressionInput:
    """The expression every model starts from, whatever the file holds.

    Raw counts are taken from ``layers[layer]``, else ``layers['counts']``, else ``X``, else
    ``raw.X`` (restricted to ``var_names``) when ``X`` is not counts but ``raw`` is. Without
    counts anywhere, normalised values are turned into pseudo-counts so that the same
    pipeline applies (with a note): log-normalised values (``log1p``, max <= 30) by
    ``expm1``; linear normalised values (CPM-like) as they are; scaled values (negative,
    e.g. after ``sc.pp.scale``) from ``raw`` when it holds non-negative values, else shifted
    per gene to start at 0 and taken as log values."""
    if layer is not None:
        if layer not in adata.layers:
            raise ScdlError(f"layer {layer!r} not in adata.layers ({list(adata.layers)})")
        return _as_input(adata.layers[layer], f"layers[{layer!r}]")
    if "counts" in adata.layers:
        return _as_input(adata.layers["counts"], "layers['counts']")
    X = adata.X
    if X is None:
        raise ScdlError("the sample has no expression matrix (adata.X is empty)")
    if not looks_like_counts(X) and adata.raw is not None:
        raw = _raw_for_vars(adata)
        if raw is not None and (
            looks_like_counts(raw) or (_has_negative(X) and not _has_negative(raw))
        ):
            return _as_input(raw, "raw.X")
    return _as_input(X, "X")


def _raw_for_vars(adata):
    """``raw.X`` for the genes of ``adata`` (None when some are missing from ``raw``)."""
    idx = adata.raw.var_names.get_indexer(adata.var_names)
    if (idx < 0).any() or adata.raw.n_obs != adata.n_obs:
        return None
    return adata.raw.X[:, idx]


def _has_negative(X) -> bool:
    data = X.data if sp.issparse(X) else np.asarray(X)
    return bool(data.size and np.nanmin(data) < 0)


def _as_input(X, source: str) -> ExpressionInput:
    if looks_like_counts(X):
        return ExpressionInput(sp.csr_matrix(X, dtype=np.float32), "counts", source)
    if _has_negative(X):
        Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float32)
        Xd = np.nan_to_num(Xd - np.nanmin(Xd, axis=0), nan=0.0)
        top = float(Xd.max()) if Xd.size else 0.0
        if top > _LOG_MAX:  # keep expm1 in a sane range
            Xd *= _LOG_MAX / top
        P = sp.csr_matrix(np.expm1(Xd).astype(np.float32))
        note = (
            f"{source} holds scaled values (negative numbers) and no raw counts were found: "
            "models use a copy shifted per gene to start at 0; give raw counts in "
            "adata.layers['counts'] for reliable results"
        )
        return ExpressionInput(P, "scaled", source, [note])
    P = sp.csr_matrix(X, dtype=np.float32, copy=True)
    P.data = np.nan_to_num(P.data, nan=0.0)
    if P.nnz and float(P.data.max()) <= _LOG_MAX:
        np.expm1(P.data, out=P.data)
        note = (
            f"{source} holds log-normalised values, not raw counts: models use expm1 of "
            "them as pseudo-counts (raw counts in adata.layers['counts'] are better)"
        )
        return ExpressionInput(P, "log-normalised", source, [note])
    note = (
        f"{source} holds normalised (non-integer) values, not raw counts: models use them "
        "as pseudo-counts (raw counts in adata.layers['counts'] are better)"
    )
    return ExpressionInput(P, "normalised", source, [note])


def counts_matrix(adata, layer: str | None = None) -> sp.csr_matrix:
    """Raw counts (or pseudo-counts, see :func:`expression_input`) as float32 CSR."""
    return expression_input(adata, layer).X


@dataclass
class GeneSelection:
    """The genes a model uses: ``mask`` over ``var_names``, the method that chose them
    (``flavor``), how many genes were detected, and notes for the user."""

    mask: np.ndarray
    flavor: str
    n_detected: int
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """What goes into ``uns[key]['params']['gene_selection']``."""
        return {
            "flavor": self.flavor,
            "n_genes": int(self.mask.sum()),
            "n_detected": int(self.n_detected),
        }


def select_genes(
    adata,
    n_top_genes: int = 3000,
    *,
    expr: ExpressionInput | None = None,
    min_spots: int = MIN_SPOTS_PER_GENE,
) -> GeneSelection:
    """Highly variable genes that work on any slide.

    Genes never detected are dropped first. If no more than ``n_top_genes`` remain (or
    ``n_top_genes <= 0``), all are used. Otherwise Seurat v3 (scanpy, on counts); if its
    loess fit is singular (sparse slides: many genes seen once or twice share one mean and
    variance), again without the genes seen in fewer than ``min_spots`` spots (at most a
    tenth of the spots); where it cannot apply (normalised input) or still fails, Seurat's
    dispersion on log-normalised values of those genes; where that fails too, their
    variance. Each fallback that changes the method is a note.
    """
    import scanpy as sc

    expr = expr if expr is not None else expression_input(adata)
    X = expr.X
    n_spots = np.asarray((X > 0).sum(0)).ravel()
    min_spots = int(max(1, min(min_spots, X.shape[0] // 10)))
    detected = n_spots >= 1
    n_det = int(detected.sum())
    notes: list[str] = []
    if n_det == 0:
        raise ScdlError("no gene is detected in any spot: the expression matrix is empty")
    if n_top_genes <= 0 or n_det <= n_top_genes:
        if n_top_genes > n_det:
            notes.append(
                f"n_top_genes={n_top_genes} is more than the {n_det} genes detected: all "
                f"{n_det} are used"
            )
        return GeneSelection(detected, "all detected genes", n_det, notes)
    frequent = n_spots >= min_spots
    chosen, flavor, last = None, "", None
    if expr.kind == "counts":
        # on every detected gene first (what scanpy does by itself); if the loess fit is
        # singular (many genes seen once or twice share one mean and variance), again
        # without the genes seen in fewer than ``min_spots`` spots
        for keep in (detected, frequent):
            if keep is frequent and frequent.sum() <= n_top_genes:
                chosen, flavor = frequent, f"all genes seen in >= {min_spots} spots"
                break
            try:
                sub = sc.AnnData(X=X[:, np.flatnonzero(keep)].copy())
                sc.pp.highly_variable_genes(sub, flavor="seurat_v3", n_top_genes=n_top_genes)
            except Exception as err:  # noqa: BLE001 - any failure of the loess fit
                last = err
                continue
            chosen, flavor = _mask(keep, sub.var["highly_variable"].to_numpy()), "seurat_v3"
            if keep is frequent:
                flavor = f"seurat_v3 (genes seen in >= {min_spots} spots)"
            break
        if last is not None:
            notes.append(
                f"Seurat v3 gene selection failed on all genes ({_short(last)}); "
                + (f"used {flavor}" if chosen is not None else
                   "genes were chosen by dispersion of log-normalised values instead")
            )
    if chosen is None:
        keep = frequent if frequent.sum() > n_top_genes else detected
        L = log_normalize(X[:, np.flatnonzero(keep)])
        try:
            tmp = sc.AnnData(X=L)
            sc.pp.highly_variable_genes(tmp, flavor="seurat", n_top_genes=n_top_genes)
            chosen = _mask(keep, tmp.var["highly_variable"].to_numpy())
            flavor = "seurat (dispersion)"
        except Exception as err:  # noqa: BLE001
            notes.append(
                f"dispersion-based gene selection failed ({_short(err)}); genes were "
                "ranked by the variance of log-normalised values"
            )
            mean = np.asarray(L.mean(0)).ravel()
            var = np.asarray(L.multiply(L).mean(0)).ravel() - mean**2
            top = np.zeros(L.shape[1], dtype=bool)
            top[np.argsort(-var, kind="stable")[:n_top_genes]] = True
            chosen, flavor = _mask(keep, top), "variance"
    return GeneSelection(chosen, flavor, n_det, notes)


def _mask(keep: np.ndarray, chosen_of_kept: np.ndarray) -> np.ndarray:
    """A mask over all genes from a mask over the ``keep`` genes."""
    out = np.zeros(keep.shape[0], dtype=bool)
    out[np.flatnonzero(keep)[np.asarray(chosen_of_kept, dtype=bool)]] = True
    return out


def _short(err: Exception) -> str:
    msg = str(err)
    if isinstance(err.args[0] if err.args else None, bytes):
        msg = err.args[0].decode(errors="replace")
    msg = msg.strip().splitlines()[0] if msg.strip() else ""
    return f"{type(err).__name__}: {msg[:120]}"


def select_hvg(adata, n_top_genes: int = 3000, layer: str | None = None) -> np.ndarray:
    """Boolean mask of the highly variable genes (see :func:`select_genes`)."""
    return select_genes(adata, n_top_genes, expr=expression_input(adata, layer)).mask


def log_normalize(X: sp.spmatrix, target_sum: float = 1e4) -> sp.csr_matrix:
    """Library-size normalise to ``target_sum`` and ``log1p`` (CSR in, CSR out)."""
    X = sp.csr_matrix(X, dtype=np.float32, copy=True)
    totals = np.asarray(X.sum(1)).ravel()
    totals[totals == 0] = 1
    X = sp.diags((target_sum / totals).astype(np.float32)) @ X
    X.data = np.log1p(X.data)
    return sp.csr_matrix(X)


def standardise_genes(
    X, *, scale: bool, mean: np.ndarray | None = None, sd: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense ``X`` centred (on ``mean``, default its own gene means) and, when ``scale``,
    divided by ``sd`` (default its own, zeros -> 1) and clipped to +-10 (scanpy's
    ``scale(max_value=10)``). Returns ``(X_std, mean, sd)``; ``sd`` is ones without ``scale``."""
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float32)
    mean = Xd.mean(0) if mean is None else mean
    Xd = Xd - mean
    if not scale:
        return Xd, mean, np.ones(Xd.shape[1], dtype=Xd.dtype)
    if sd is None:
        sd = Xd.std(0)
        sd[sd == 0] = 1
    return np.clip(Xd / sd, -10, 10), mean, sd


def pca(X, n_comps: int = 50, *, seed: int = 0, scale: bool = True) -> np.ndarray:
    """PCA of (log) expression; genes standardised first when ``scale``."""
    from sklearn.decomposition import PCA

    Xd, _, _ = standardise_genes(X, scale=scale)
    n_comps = int(min(n_comps, Xd.shape[0] - 1, Xd.shape[1]))
    return PCA(n_components=n_comps, random_state=seed, svd_solver="randomized").fit_transform(Xd).astype(np.float32)


#: above this many spots, the expression PCA is fitted on this many spots drawn at random
#: (dense) and every spot is projected in row chunks: no dense spots x genes copy of a large
#: slide (below, the whole slide is fitted as before: the same components)
PCA_FIT_SPOTS = 100_000

#: spots per dense chunk when projecting a large slide
PROJECTION_CHUNK = 20_000


def fit_projection(
    L, n_pcs: int, *, seed: int = 0, scale: bool = False, max_spots: int | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """PCA of log expression ``L`` (spots x genes; genes standardised when ``scale``),
    divided by the first component's standard deviation, kept so that another sample can
    be projected the same way. Returns the projection (for :func:`apply_projection`) and
    the projected features of ``L``.

    With more than ``max_spots`` spots (default :data:`PCA_FIT_SPOTS`), the gene means
    (and SDs) come from every spot, the components from ``max_spots`` spots drawn with
    ``seed``, and the spots are projected in chunks (sparse ``L`` is never densified
    whole)."""
    from sklearn.decomposition import PCA

    max_spots = PCA_FIT_SPOTS if max_spots is None else int(max_spots)
    n_obs = L.shape[0]
    if n_obs <= max_spots:
        Xd, mean, sd = standardise_genes(L, scale=scale)
        n = int(min(n_pcs, Xd.shape[0] - 1, Xd.shape[1]))
        model = PCA(n_components=n, random_state=seed, svd_solver="randomized").fit(Xd)
        pcs = (Xd - model.mean_) @ model.components_.T  # exactly what apply_projection computes
        del Xd
    else:
        mean, sd = _gene_mean_sd(L, scale=scale)
        rows = np.sort(np.random.default_rng(seed).choice(n_obs, max_spots, replace=False))
        Xd, _, _ = standardise_genes(L[rows], scale=scale, mean=mean, sd=sd)
        n = int(min(n_pcs, Xd.shape[0] - 1, Xd.shape[1]))
        model = PCA(n_components=n, random_state=seed, svd_solver="randomized").fit(Xd)
        del Xd
        pcs = None
    div = 1.0
    proj = {
        "mean": mean,
        "sd": sd,
        "scale": np.asarray(scale),
        "pca_mean": model.mean_,
        "components": model.components_,
        "divisor": np.asarray(div),
    }
    if pcs is None:
        pcs = apply_projection(L, proj)
    div = max(float(pcs[:, 0].std()), 1e-8)
    proj["divisor"] = np.asarray(div)
    return proj, (pcs / div).astype(np.float32)


def _gene_mean_sd(L, *, scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gene means and (when ``scale``, else ones) SDs of ``L`` without densifying it."""
    if sp.issparse(L):
        mean = np.asarray(L.mean(0), dtype=np.float64).ravel()
        sq = np.asarray(L.multiply(L).mean(0), dtype=np.float64).ravel() if scale else None
    else:
        mean = np.asarray(L, dtype=np.float64).mean(0)
        sq = (np.asarray(L, dtype=np.float64) ** 2).mean(0) if scale else None
    dtype = np.float32
    if not scale:
        return mean.astype(dtype), np.ones(L.shape[1], dtype=dtype)
    sd = np.sqrt(np.maximum(sq - mean**2, 0))
    sd[sd == 0] = 1
    return mean.astype(dtype), sd.astype(dtype)


def apply_projection(L, proj: dict[str, np.ndarray], *, own_mean: bool = False) -> np.ndarray:
    """Features of log expression ``L`` under a :func:`fit_projection` projection; with
    ``own_mean`` genes are centred on ``L``'s own means (removes a sample-wide shift).
    Large inputs are projected in chunks of :data:`PROJECTION_CHUNK` spots."""
    scale = bool(proj["scale"])
    mean = proj["mean"]
    if own_mean:
        mean = _gene_mean_sd(L, scale=False)[0] if L.shape[0] > PROJECTION_CHUNK else None
    if L.shape[0] <= PROJECTION_CHUNK:
        Xd, _, _ = standardise_genes(L, scale=scale, mean=mean, sd=proj["sd"])
        pcs = (Xd - proj["pca_mean"]) @ proj["components"].T
        return (pcs / float(proj["divisor"])).astype(np.float32)
    out = np.empty((L.shape[0], proj["components"].shape[0]), dtype=np.float32)
    for i in range(0, L.shape[0], PROJECTION_CHUNK):
        Xd, _, _ = standardise_genes(L[i: i + PROJECTION_CHUNK], scale=scale, mean=mean,
                                     sd=proj["sd"])
        out[i: i + PROJECTION_CHUNK] = (Xd - proj["pca_mean"]) @ proj["components"].T
    out /= float(proj["divisor"])
    return out
