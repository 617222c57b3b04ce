"""``autoencoder``: DCA/SAUCIE-like denoising autoencoder (AnnData glue)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import register_model
from ._base import Param, Progress
from ._latent import CLUSTER_PARAMS, GENE_PARAM, TARGET_SUM, LatentModel
from ._train import TrainingPlan


@register_model
class AutoencoderModel(LatentModel):
    """Denoising autoencoder for embedding, denoising and imputation (Eraslan et al. 2019,
    Nature Communications 10:390, DCA; Amodio et al. 2019, Nature Methods 16:1139, SAUCIE).

    The encoder sees log-normalised expression of ``n_top_genes`` highly variable genes
    with ``mask_rate`` of the entries zeroed; ``reconstruction="zinb"`` (DCA) fits the raw
    counts with a zero-inflated negative binomial whose mean scales with the spot's total
    counts, ``"mse"`` (SAUCIE) fits the log-normalised expression.

    Writes
    ------
    ``obsm['X_{key}']``
        bottleneck embedding (n_latent dims).
    ``layers['{key}_imputed']``
        denoised expression on the log-normalised scale (model genes; 0 for other genes).
    ``obs['{key}']``, ``obs['{key}_confidence']``
        clusters of the embedding when ``n_clusters`` > 0.
    ``uns['{key}']``
        params, seed, device, versions, training history, ``genes``.
    """

    name = "autoencoder"
    description = "DCA/SAUCIE-like denoising autoencoder (ZINB or MSE): embedding and imputation"
    citation = "Eraslan et al. (2019) Nat Commun 10:390; Amodio et al. (2019) Nat Methods 16:1139"
    default_key = "autoencoder"
    params = (
        GENE_PARAM,
        Param("n_latent", 32, "dimensions of the bottleneck", min=2, max=256),
        Param("n_hidden", 128, "units of the hidden layers", min=8, max=4096),
        Param(
            "reconstruction",
            "zinb",
            "zinb: count likelihood (DCA); mse: log expression (SAUCIE)",
            choices=("zinb", "mse"),
        ),
        Param(
            "mask_rate",
            0.1,
            "fraction of input entries zeroed in training (denoising)",
            min=0.0,
            max=0.9,
        ),
        Param("epochs", 30, "training epochs", min=1, max=10000),
        Param("batch_size", 128, "spots per mini-batch", min=8),
        Param("lr", 1e-3, "learning rate (Adam)", min=1e-6, max=1.0),
        *CLUSTER_PARAMS,
    )
    writes = LatentModel.writes + ("layers['{key}_imputed']",)

    def _arch_from_inputs(self) -> dict[str, Any]:
        h = self.hparams
        return {
            "n_genes": self.inputs.counts.shape[1],
            "n_hidden": h["n_hidden"],
            "n_latent": h["n_latent"],
            "mask_rate": h["mask_rate"],
            "reconstruction": h["reconstruction"],
        }

    def _build_module(self, **arch: Any):
        from .nn._autoencoder import Autoencoder

        return Autoencoder(**arch)

    def _batch(self, rows: np.ndarray) -> dict[str, Any]:
        import torch

        out = {"xlog": torch.from_numpy(self.inputs.lognorm(rows)).to(self.device)}
        if self.module.reconstruction == "zinb":
            out["x"] = torch.from_numpy(self.inputs.counts[rows].toarray()).to(self.device)
            sf = np.maximum(self.inputs.total[rows], 1.0)[:, None] / TARGET_SUM
            out["sf"] = torch.from_numpy(sf.astype(np.float32)).to(self.device)
        return out

    def _train(self) -> Iterator[Progress]:
        h = self.hparams
        gen = self._generator()
        self.module.init_output(self._gene_mean())
        plan = TrainingPlan(n_epochs=h["epochs"], lr=h["lr"], weight_decay=1e-6)

        def batches():
            for rows in self._minibatches(h["batch_size"], gen):
                yield self._batch(rows)

        yield from plan.run(self.module, batches, history=self.history, label=self.name)

    def _gene_mean(self):
        """Mean of each model gene over the spots, on the scale of the decoder's output."""
        import scipy.sparse as sp
        import torch

        inp = self.inputs
        if self.module.reconstruction == "zinb":
            scale = sp.diags(TARGET_SUM / np.maximum(inp.total, 1.0))
            mean = np.asarray((scale @ inp.counts).mean(0)).ravel()
        else:
            mean = inp.lognorm().mean(0)
        return torch.from_numpy(mean.astype(np.float32)).to(self.device)

    def _compute(self) -> tuple[np.ndarray, np.ndarray]:
        import torch

        latent, imputed = [], []
        self.module.eval()
        n = self.inputs.n_obs
        with torch.no_grad():
            for rows in np.array_split(np.arange(n), max(1, n // 1024)):
                out = self.module(self._batch(rows))
                # zinb: the mean per unit size factor is already per 1e4 counts
                x = out["xlog"].clamp(min=0) if "xlog" in out else torch.log1p(out["mean"])
                latent.append(out["z"].cpu().numpy())
                imputed.append(x.cpu().numpy())
        return np.concatenate(latent), np.concatenate(imputed)
