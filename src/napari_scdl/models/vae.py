"""``vae``: scVI-like variational autoencoder with a count likelihood (AnnData glue)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import register_model
from ._base import Param, Progress
from ._latent import CLUSTER_PARAMS, GENE_PARAM, TARGET_SUM, LatentModel
from ._train import TrainingPlan


@register_model
class VAEModel(LatentModel):
    """Variational autoencoder with a negative binomial / zero-inflated NB likelihood
    (Lopez et al. 2018, Nature Methods 15:1053, scVI).

    Trained on the raw counts of ``n_top_genes`` highly variable genes with the observed
    library size; an optional ``batch_key`` column of ``obs`` enters the decoder as a
    one-hot covariate, so the latent space is corrected between slides/batches.

    Writes
    ------
    ``obsm['X_{key}']``
        posterior mean of the latent ``z`` (n_latent dims).
    ``layers['{key}_imputed']``
        denoised expression: the decoder's NB mean on the log-normalised scale
        ``log1p(1e4 * mu / total counts)`` for the model genes (0 for other genes).
    ``obs['{key}']``, ``obs['{key}_confidence']``
        clusters of the latent space when ``n_clusters`` > 0.
    ``uns['{key}']``
        params, seed, device, versions, training history, ``genes``, ``batches``.
    """

    name = "vae"
    description = (
        "scVI-like variational autoencoder (NB/ZINB counts): embedding, denoising, batch correction"
    )
    citation = "Lopez et al. (2018) Nature Methods 15:1053"
    default_key = "vae"
    params = (
        GENE_PARAM,
        Param("n_latent", 10, "dimensions of the latent space", min=2, max=256),
        Param("n_hidden", 128, "units of the hidden layer", min=8, max=4096),
        Param("likelihood", "zinb", "count distribution of the decoder", choices=("zinb", "nb")),
        Param("batch_key", None, "obs column with the batch/slide of each spot (optional)"),
        Param("epochs", 50, "training epochs", min=1, max=10000),
        Param("batch_size", 128, "spots per mini-batch", min=8),
        Param("lr", 1e-3, "learning rate (Adam)", min=1e-6, max=1.0),
        Param(
            "kl_warmup",
            0.3,
            "fraction of the epochs over which the KL weight rises 0 -> 1",
            min=0.0,
            max=1.0,
        ),
        *CLUSTER_PARAMS,
    )
    writes = LatentModel.writes + ("layers['{key}_imputed']",)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.batches: list[str] = []

    # -- setup hooks ---------------------------------------------------------------------
    def _check(self, adata) -> list[str]:
        key = self.hparams["batch_key"]
        if key is None:
            return []
        if key not in adata.obs.columns:
            return [f"batch_key {key!r} is not a column of adata.obs ({list(adata.obs.columns)})"]
        col = adata.obs[key]
        if col.isna().any():
            return [f"adata.obs[{key!r}] has {int(col.isna().sum())} missing values"]
        if self.is_trained:
            unknown = sorted(set(col.astype(str)) - set(self.batches))
            if unknown:
                return [
                    f"adata.obs[{key!r}] has batches {unknown[:5]} the model was not trained "
                    f"on (it knows {self.batches[:5]}); train a model on all slides together"
                ]
        return []

    def _covariate(self, adata) -> np.ndarray | None:
        key = self.hparams["batch_key"]
        if key is None:
            return None
        values = adata.obs[key].astype(str).to_numpy()
        if not self.is_trained:
            self.batches = sorted(set(values))
        return np.searchsorted(np.asarray(self.batches), values)

    # -- network ---------------------------------------------------------------------------
    def _arch_from_inputs(self) -> dict[str, Any]:
        h = self.hparams
        return {
            "n_genes": self.inputs.counts.shape[1],
            "n_batches": len(self.batches) if h["batch_key"] else 0,
            "n_hidden": h["n_hidden"],
            "n_latent": h["n_latent"],
            "likelihood": h["likelihood"],
        }

    def _build_module(self, **arch: Any):
        from .nn._vae import VAE

        return VAE(**arch)

    def _batch(self, rows: np.ndarray) -> dict[str, Any]:
        import torch

        x = torch.from_numpy(self.inputs.counts[rows].toarray()).to(self.device)
        out = {"x": x, "lib": x.sum(1, keepdim=True).clamp(min=1.0)}
        if self.module.n_batches:
            codes = torch.from_numpy(self.inputs.covariate[rows]).to(self.device)
            out["cov"] = torch.nn.functional.one_hot(codes, self.module.n_batches).float()
        return out

    def _train(self) -> Iterator[Progress]:
        h = self.hparams
        gen = self._generator()
        warm = max(1, round(h["kl_warmup"] * h["epochs"]))
        plan = TrainingPlan(
            n_epochs=h["epochs"],
            lr=h["lr"],
            weight_decay=1e-6,
            schedule=lambda epoch: {"kl_weight": min(1.0, epoch / warm) if h["kl_warmup"] else 1.0},
        )

        def batches():
            for rows in self._minibatches(h["batch_size"], gen):
                yield self._batch(rows)

        yield from plan.run(self.module, batches, history=self.history, label=self.name)

    def _compute(self) -> tuple[np.ndarray, np.ndarray]:
        import torch

        latent, imputed = [], []
        self.module.eval()
        n = self.inputs.n_obs
        with torch.no_grad():
            for rows in np.array_split(np.arange(n), max(1, n // 1024)):
                out = self.module(self._batch(rows))
                total = torch.from_numpy(np.maximum(self.inputs.total[rows], 1.0)).float()
                norm = out["mu"].cpu() * (TARGET_SUM / total[:, None])
                latent.append(out["qm"].cpu().numpy())
                imputed.append(torch.log1p(norm).numpy())
        return np.concatenate(latent), np.concatenate(imputed)

    # -- persistence -----------------------------------------------------------------------
    def _module_state(self) -> dict[str, Any]:
        return super()._module_state() | {"batches": list(self.batches)}

    def _restore_module(self, state: dict[str, Any]) -> None:
        super()._restore_module(state)
        self.batches = list(state.get("batches", []))

    def extra_uns(self) -> dict[str, Any]:
        return super().extra_uns() | ({"batches": self.batches} if self.batches else {})
