"""Joint spatial domains over a cohort of slides: ``cohort_domains([a, b, c], n_domains=7)``.

One ``domain_gcn`` model over all slides (``batch_key``: genes chosen over all slides,
centred per slide, block-diagonal spot graph) and one clustering, so that the same domain
id is the same tissue on every slide. The distributed runner (``napari-scdl cohort``) is
:mod:`napari_scdl.cohort`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ScdlError
from ..models import BaseModel

logger = logging.getLogger(__name__)

#: the obs column of the joint AnnData that names each spot's slide
SAMPLE_KEY = "sample_id"
MIN_SHARED_GENES = 50


@dataclass
class CohortResult:
    """What :func:`cohort_domains` returns.

    ``adatas``: sample id -> that slide's AnnData (results written in place);
    ``proportions``: slides x domains (fraction of each slide's spots), with the manifest's
    metadata columns first; ``markers``: marker genes of each domain over all slides
    (:func:`napari_scdl.tl.markers` on the joint data); ``model``: the trained model
    (``model.transform(new_slide)`` maps another slide onto the cohort's domains).
    """

    cohort_id: str
    adatas: dict[str, Any]
    proportions: pd.DataFrame
    markers: pd.DataFrame
    model: BaseModel
    params: dict[str, Any] = field(default_factory=dict)


def cohort_id_of(sample_ids: Sequence[str], params: dict[str, Any]) -> str:
    """A short stable id of a cohort run (the slides and every parameter)."""
    blob = json.dumps({"samples": list(sample_ids), "params": params}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _open(items: Sequence[Any], sample_ids: Sequence[str] | None) -> dict[str, Any]:
    from ..io import read

    if len(items) < 2:
        raise ScdlError(f"a cohort needs at least 2 slides, got {len(items)}")
    if sample_ids is None:
        sample_ids = [
            Path(str(x)).stem if isinstance(x, (str, Path)) else f"slide{i + 1}"
            for i, x in enumerate(items)
        ]
    sample_ids = [str(s) for s in sample_ids]
    if len(sample_ids) != len(items):
        raise ScdlError(f"{len(sample_ids)} sample ids for {len(items)} slides")
    if len(set(sample_ids)) != len(sample_ids):
        raise ScdlError(f"sample ids must be unique: {sample_ids}")
    return {
        sid: read(x) if isinstance(x, (str, Path)) else x
        for sid, x in zip(sample_ids, items, strict=True)
    }


def joint_adata(adatas: dict[str, Any]):
    """One AnnData of all slides for the joint model: counts of the genes every slide has,
    ``obsm['spatial']``, grid coordinates when every slide has them, ``obs['sample_id']``
    and each slide's first image library as ``uns['spatial'][sample_id]``."""
    import anndata as ad
    import scipy.sparse as sp

    from ..preprocessing import expression_input

    genes = None
    for a in adatas.values():
        genes = list(a.var_names) if genes is None else [g for g in genes if g in set(a.var_names)]
    if len(genes) < MIN_SHARED_GENES:
        raise ScdlError(
            f"the slides share only {len(genes)} genes (need {MIN_SHARED_GENES}); a cohort "
            "needs slides measured on the same genes (same panel or transcriptome)"
        )
    grid = all({"array_row", "array_col"} <= set(a.obs.columns) for a in adatas.values())
    parts, obs, xy, libs = [], [], [], {}
    for sid, a in adatas.items():
        if "spatial" not in a.obsm:
            raise ScdlError(f"slide {sid}: obsm['spatial'] (spot coordinates) is missing")
        X = expression_input(a).X
        parts.append(X[:, a.var_names.get_indexer(genes)])
        o = pd.DataFrame({SAMPLE_KEY: sid}, index=[f"{sid}:{b}" for b in a.obs_names])
        if grid:
            o["array_row"] = a.obs["array_row"].to_numpy()
            o["array_col"] = a.obs["array_col"].to_numpy()
        obs.append(o)
        xy.append(np.asarray(a.obsm["spatial"], dtype=np.float64)[:, :2])
        spatial = a.uns.get("spatial") or {}
        if spatial:
            libs[sid] = next(iter(spatial.values()))
    obs_df = pd.concat(obs)
    obs_df[SAMPLE_KEY] = pd.Categorical(obs_df[SAMPLE_KEY], categories=list(adatas))
    joint = ad.AnnData(X=sp.vstack(parts).tocsr(), obs=obs_df, var=pd.DataFrame(index=genes))
    joint.obsm["spatial"] = np.vstack(xy)
    if libs:
        joint.uns["spatial"] = libs
    return joint


def cohort_domains_iter(
    adatas_or_paths: Sequence[Any],
    *,
    n_domains: int = 7,
    sample_ids: Sequence[str] | None = None,
    metadata: pd.DataFrame | None = None,
    key_added: str = "domain",
    use_histology: bool = True,
    seed: int = 0,
    device: str = "auto",
    on_result: Callable[[CohortResult], None] | None = None,
    cohort_id: str | None = None,
    correction: str = "center",
    blocks: Mapping[str, Any] | None = None,
    **params: Any,
):
    """Like :func:`cohort_domains`, yielding a :class:`Progress` per epoch; the result goes
    to ``on_result`` (and is the generator's return value). Closing it cancels: no slide is
    changed."""
    from ..cohort._batch import SETUP_KEY
    from ..cohort._model import CohortGCN, check_correction
    from ..models import Progress
    from ._run import run_model_iter

    correction = check_correction(correction)
    slides = _open(adatas_or_paths, sample_ids)
    blocks = _blocks(blocks, slides)
    all_params = {"n_domains": int(n_domains), "use_histology": bool(use_histology), **params}
    cid = cohort_id or cohort_id_of(
        list(slides), all_params | {"seed": seed, "key": key_added, "correction": correction}
        | ({"blocks": blocks} if blocks else {}))
    links = {}
    if blocks:
        yield Progress(0, 1, "cohort: aligning adjacent sections")
        links = align_blocks(slides, blocks)
    joint = joint_adata(slides)
    joint.uns[SETUP_KEY] = {"centre": correction == "center",
                            "links": {str(i): v for i, v in enumerate(links.values())}}
    model = CohortGCN(correction=correction, batch_key=SAMPLE_KEY, **all_params)
    yield from run_model_iter(joint, model, key_added=key_added, device=device, seed=seed)
    if links:
        _count_link_edges(joint, model, links)
    result = split_results(joint, slides, key=key_added, cohort_id=cid, model=model,
                           metadata=metadata, alignments=links, blocks=blocks)
    if on_result is not None:
        on_result(result)
    return result


def cohort_domains(
    adatas_or_paths: Sequence[Any],
    *,
    n_domains: int = 7,
    sample_ids: Sequence[str] | None = None,
    metadata: pd.DataFrame | None = None,
    key_added: str = "domain",
    use_histology: bool = True,
    seed: int = 0,
    device: str = "auto",
    cohort_id: str | None = None,
    correction: str = "center",
    blocks: Mapping[str, Any] | None = None,
    **params: Any,
) -> CohortResult:
    """Spatial domains shared by several slides: one ``domain_gcn`` model over all of them.

    Genes are the highly variable genes of each slide ranked by how many slides choose them;
    expression is centred per slide (removes a slide-wide shift or scaling of each gene);
    the spot graph has no edges between slides; one clustering over all spots, so domain
    ``"3"`` is the same tissue on every slide.

    Parameters
    ----------
    adatas_or_paths
        Two or more slides: AnnData (as :func:`napari_scdl.io.read` returns) or paths any
        of our readers open.
    n_domains
        Number of domains over the cohort (``0``: chosen by silhouette width).
    sample_ids
        One id per slide (default: file stems, or ``slide1``, ``slide2`` ...).
    metadata
        Optional table indexed by sample id (donor, condition ...) put before the
        proportions.
    key_added, use_histology, seed, device, **params
        As :func:`napari_scdl.tl.domains` (``epochs``, ``n_top_genes`` ...).
    cohort_id
        Id stored with the results (default: a hash of the sample ids and parameters).
    correction
        How slide effects are removed: ``"center"`` (default: genes centred per slide before
        the shared PCA), ``"harmony"`` (Harmony, harmonypy, on the PCs, slide as batch) or
        ``"none"``. Recorded in ``uns[key_added]['params']['correction']``.
    blocks
        Sample id -> tissue block for slides that are adjacent sections of one block (the
        manifest's ``block`` column; empty / missing: a slide of its own). Within a block
        each section is aligned onto the previous one (rigid, by position and expression:
        :func:`napari_scdl.align.align_sections`) and the spot graph gets edges between
        facing spots of the two, so domains are smoothed across sections. The transform is
        ``uns[key_added]['alignment']`` of the moved slide.

    Writes
    ------
    In each slide: ``obs[key_added]`` (the cohort's domains, same categories on every
    slide), ``obs[f"{key_added}_confidence"]``, ``obsm[f"X_{key_added}"]`` and
    ``uns[key_added]`` (params, seed, device, versions, and ``cohort``: ``id``,
    ``sample_id``, ``samples``).

    Returns
    -------
    A :class:`CohortResult` (per-slide AnnData, proportions, markers, the trained model).
    """
    gen = cohort_domains_iter(
        adatas_or_paths, n_domains=n_domains, sample_ids=sample_ids, metadata=metadata,
        key_added=key_added, use_histology=use_histology, seed=seed, device=device,
        cohort_id=cohort_id, correction=correction, blocks=blocks, **params,
    )
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def _blocks(blocks, slides: dict[str, Any]) -> dict[str, str]:
    """Sample id -> block, only for blocks of two or more of ``slides``."""
    if blocks is None:
        return {}
    if isinstance(blocks, pd.Series):
        blocks = blocks.to_dict()
    clean = {str(s): str(b).strip() for s, b in dict(blocks).items()
             if s in slides and b is not None and str(b).strip() not in ("", "nan", "None")}
    unknown = [s for s in dict(blocks) if str(s) not in slides]
    if unknown:
        raise ScdlError(f"blocks names slides that are not in the cohort: {unknown}")
    sizes = pd.Series(clean).value_counts() if clean else pd.Series(dtype=int)
    return {s: b for s, b in clean.items() if sizes[b] >= 2}


def align_blocks(slides: dict[str, Any], blocks: dict[str, str], *, k: int = 3,
                 max_dist_spacings: float = 1.5) -> dict[str, dict[str, Any]]:
    """Moving sample id -> link: within each block (slides in cohort order) each section is
    aligned onto the one before it; ``matrix`` maps its ``obsm['spatial']`` onto that
    reference's, and facing spots within ``max_dist_spacings`` spot spacings (``k`` nearest)
    become graph edges."""
    from ..align import align_sections

    links: dict[str, dict[str, Any]] = {}
    order = [s for s in slides if s in blocks]
    for block in dict.fromkeys(blocks[s] for s in order):
        members = [s for s in order if blocks[s] == block]
        for ref, mov in zip(members[:-1], members[1:], strict=True):
            al = align_sections(slides[ref], slides[mov])
            logger.info("cohort: %s aligned onto %s (block %s): %.1f deg, residual %.2f "
                        "spacings", mov, ref, block, al.angle_deg, al.residual)
            links[mov] = {"ref": ref, "mov": mov, "block": block, "k": int(k),
                          "max_dist": float(max_dist_spacings * al.spacing)} | al.as_dict()
    return links


def _count_link_edges(joint, model, links: dict[str, dict[str, Any]]) -> None:
    """Number of graph edges between each aligned pair (recorded with the link)."""
    adj = getattr(model, "_adjacency", None)
    if adj is None:
        return
    a = adj.tocoo()
    sid = joint.obs[SAMPLE_KEY].astype(str).to_numpy()
    for link in links.values():
        m = (sid[a.row] == link["ref"]) & (sid[a.col] == link["mov"])
        link["n_edges"] = int(m.sum())


def split_results(
    joint, slides: dict[str, Any], *, key: str, cohort_id: str, model: BaseModel,
    metadata: pd.DataFrame | None = None, alignments: dict[str, Any] | None = None,
    blocks: dict[str, str] | None = None,
) -> CohortResult:
    """Copy the joint model's results from ``joint`` into each slide's AnnData."""
    from ..models._results import write_result

    cats = list(joint.obs[key].cat.categories)
    sid = joint.obs[SAMPLE_KEY].astype(str).to_numpy()
    info = dict(joint.uns[key])
    if blocks:
        info["params"] = dict(info.get("params", {})) | {"blocks": dict(blocks)}
    for name, a in slides.items():
        m = sid == name
        cohort = {"id": cohort_id, "sample_id": name, "samples": list(slides)}
        extra = {}
        if blocks and name in blocks:
            cohort["block"] = blocks[name]
        if alignments and name in alignments:
            extra["alignment"] = dict(alignments[name])
        write_result(
            a, key,
            labels=joint.obs[key].to_numpy()[m],
            confidence=joint.obs[f"{key}_confidence"].to_numpy()[m],
            embedding=joint.obsm[f"X_{key}"][m],
            info=info | {"cohort": cohort} | extra,
        )
        a.obs[key] = a.obs[key].cat.set_categories(cats)  # the same categories everywhere
    return CohortResult(
        cohort_id=cohort_id,
        adatas=slides,
        proportions=domain_proportions(slides, key=key, metadata=metadata),
        markers=cohort_markers(joint, key=key),
        model=model,
        params=dict(info.get("params", {})),
    )


def domain_proportions(
    adatas: dict[str, Any], *, key: str = "domain", metadata: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Fraction of each slide's spots in each domain (rows: slides; ``n_spots`` and the
    metadata columns first)."""
    rows = {}
    for sid, a in adatas.items():
        counts = a.obs[key].value_counts(normalize=True, sort=False)
        rows[sid] = counts
    table = pd.DataFrame(rows).T.fillna(0.0)
    table = table[sorted(table.columns, key=lambda c: (len(str(c)), str(c)))]
    table.columns = [f"{key}_{c}" for c in table.columns]
    table.insert(0, "n_spots", [adatas[s].n_obs for s in table.index])
    table.index.name = "sample_id"
    if metadata is not None and len(metadata.columns):
        meta = metadata.reindex(table.index)
        table = pd.concat([meta, table], axis=1)
    return table


def cohort_markers(joint, *, key: str = "domain", n_top: int = 10) -> pd.DataFrame:
    """The ``n_top`` marker genes of each domain over all slides (Wilcoxon, domain versus
    the rest, on log-normalised counts of the joint data)."""
    from .markers import markers

    try:
        df = markers(joint, key, key_added=f"{key}_markers")
    except ScdlError as err:  # e.g. a single domain
        logger.warning("cohort markers: %s", err)
        return pd.DataFrame(columns=["group", "gene", "log2fc", "score", "pval_adj"])
    return df.groupby("group", sort=False, observed=True).head(n_top).reset_index(drop=True)


def plot_proportions(proportions: pd.DataFrame, path: str | Path | None = None, *,
                     key: str = "domain", colors: dict[str, str] | None = None):
    """Stacked bar plot of the domain proportions per slide (matplotlib ``Figure``; saved to
    ``path`` when given). ``colors``: domain -> colour (default: the plugin's palette)."""
    from matplotlib.figure import Figure

    from ..colors import _PALETTE

    cols = [c for c in proportions.columns if str(c).startswith(f"{key}_")]
    fig = Figure(figsize=(max(4.0, 0.6 * len(proportions) + 2.5), 3.6), dpi=110,
                 layout="constrained")  # keeps the legend and the labels inside
    ax = fig.add_subplot(1, 1, 1)
    bottom = np.zeros(len(proportions))
    for i, c in enumerate(cols):
        dom = str(c)[len(key) + 1:]
        color = (colors or {}).get(dom, _PALETTE[i % len(_PALETTE)])
        vals = proportions[c].to_numpy(dtype=float)
        ax.bar(range(len(vals)), vals, bottom=bottom, color=color, label=dom, width=0.8)
        bottom += vals
    ax.set_xticks(range(len(proportions)), [str(s) for s in proportions.index], rotation=30,
                  ha="right")
    ax.set_ylabel("fraction of spots")
    ax.set_ylim(0, 1)
    ax.set_title(f"{key} proportions per slide")
    ax.legend(title=key, bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig


__all__ = [
    "CohortResult", "cohort_domains", "cohort_domains_iter", "domain_proportions",
    "plot_proportions",
]
