"""Spatial domains: ``domains(adata, n_domains=7)`` (thin wrapper over the ``domain_gcn``
model; the GUI uses :func:`domains_iter`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..models import BaseModel, Progress, get_model
from ._run import run_model_iter


def _model(n_domains: int | str, use_histology: bool, params: dict[str, Any]) -> BaseModel:
    if isinstance(n_domains, str):
        n_domains = 0 if n_domains.strip().lower() == "auto" else n_domains
    return get_model("domain_gcn")(n_domains=n_domains, use_histology=use_histology, **params)


def domains_iter(
    adata,
    *,
    n_domains: int | str = 7,
    key_added: str = "domain",
    use_histology: bool = True,
    seed: int = 0,
    device: str = "auto",
    **params: Any,
) -> Iterator[Progress]:
    """Like :func:`domains`, yielding a :class:`Progress` per training epoch (close the
    generator to cancel: ``adata`` is then left unchanged). The last item has
    ``metrics['done'] == 1`` and lists the keys written."""
    model = _model(n_domains, use_histology, params)
    yield from run_model_iter(adata, model, key_added=key_added, device=device, seed=seed)


def domains(
    adata,
    *,
    n_domains: int | str = 7,
    key_added: str = "domain",
    use_histology: bool = True,
    seed: int = 0,
    device: str = "auto",
    **params: Any,
) -> BaseModel:
    """Find spatial domains with the graph-convolutional ``domain_gcn`` model.

    Parameters
    ----------
    adata
        One sample read with :func:`napari_scdl.io.read` (raw counts in ``X`` or
        ``layers['counts']``, ``obsm['spatial']``; an H&E in ``uns['spatial']`` is used
        when ``use_histology``).
    n_domains
        Number of domains; ``0`` or ``"auto"`` chooses it (silhouette width over
        ``k_min..k_max``; the scores are stored in ``uns[key_added]['auto_k_scores']``).
    key_added
        Where results go (see Writes).
    use_histology
        Weight the spot graph by H&E similarity when the sample has an image.
    seed, device
        Random seed (same seed -> same domains on CPU) and ``auto``/``cpu``/``cuda``.
    **params
        Other ``domain_gcn`` parameters (``epochs``, ``n_top_genes``, ``n_pcs``, ``lr``,
        ``refine`` ...; see ``napari_scdl.models.get_model('domain_gcn').params``).

    Writes
    ------
    ``obs[key_added]`` (categorical domains), ``obs[f"{key_added}_confidence"]`` (how often the
    trained networks agree on the spot's domain over its neighbourhood, see
    ``uns[key_added]["confidence_method"]``), ``obsm[f"X_{key_added}"]`` (clustered embedding) and
    ``uns[key_added]`` (params, seed, device, versions, history, wall_time_s).

    Returns
    -------
    The trained model (``model.save(path)`` keeps it).
    """
    model = _model(n_domains, use_histology, params)
    for _ in run_model_iter(adata, model, key_added=key_added, device=device, seed=seed):
        pass
    return model
