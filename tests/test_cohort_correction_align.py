"""Cohort slide correction (center / Harmony / none) and aligned adjacent sections."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from cohort_fixtures import FAST
from cohort_fixtures import layer_to_domain as _layer_to_domain
from sklearn.metrics import adjusted_rand_score

from napari_scdl.errors import ScdlError


def _run(slides, **kw):
    from napari_scdl.tl import cohort_domains

    copies = {k: v.copy() for k, v in slides.items()}
    return cohort_domains(list(copies.values()), sample_ids=list(copies), n_domains=5,
                          use_histology=False, seed=0, **FAST, **kw)


def test_harmony_recovers_one_labelling_and_is_recorded(slides):
    """Planted slide effect (each gene x exp(N(0, 1)) per slide): with no correction the
    slides stay apart; centring + Harmony gives every layer one id on all slides."""
    none = _run(slides, correction="none")
    harmony = _run(slides, correction="harmony")
    for res, name in ((none, "none"), (harmony, "harmony")):
        for a in res.adatas.values():
            assert a.uns["domain"]["params"]["correction"] == name
            assert a.uns["domain"]["correction"]["method"] == name
    assert np.mean([adjusted_rand_score(a.obs["truth"], a.obs["domain"])
                    for a in none.adatas.values()]) < 0.5
    maps = [_layer_to_domain(a) for a in harmony.adatas.values()]
    assert all(m == maps[0] for m in maps) and len(set(maps[0].values())) == 5
    for a in harmony.adatas.values():
        assert adjusted_rand_score(a.obs["truth"], a.obs["domain"]) > 0.6
    assert none.cohort_id != harmony.cohort_id
    with pytest.raises(ScdlError, match="correction must be one of"):
        _run(slides, correction="combat")


def test_harmony_corrects_the_components():
    from napari_scdl.cohort._batch import Batches
    from napari_scdl.cohort._model import harmony_pcs

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    x[200:, :2] += 0.8  # a slide shift that overlaps the other slide
    b = Batches([("a", np.arange(200)), ("b", np.arange(200, 400))])
    z = harmony_pcs(x, b)
    before = np.abs(x[:200].mean(0) - x[200:].mean(0))[:2].mean()
    after = np.abs(z[:200].mean(0) - z[200:].mean(0))[:2].mean()
    assert z.shape == x.shape and after < 0.5 * before


def _moved_copy(a, angle_deg: float, shift, seed: int = 1, drop: float = 0.1):
    """A noisy adjacent 'section': Poisson-resampled counts, 10 % of spots dropped, spot
    positions jittered by 0.1 spacing, then rotated and shifted."""
    from napari_scdl.align import spot_spacing

    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(a.n_obs, int(a.n_obs * (1 - drop)), replace=False))
    b = a[keep].copy()
    b.X = sp.csr_matrix(rng.poisson(b.X.toarray()).astype(np.float32))
    th = np.deg2rad(angle_deg)
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    xy = np.asarray(b.obsm["spatial"], dtype=float)
    xy = xy + rng.normal(0, 0.1 * spot_spacing(a.obsm["spatial"]), xy.shape)
    b.obsm["spatial"] = xy @ R.T + np.asarray(shift)
    b.uns.pop("spatial", None)
    return b, R


@pytest.mark.parametrize("angle", [23.0, -140.0])
def test_alignment_recovers_rotation_and_shift(slides, angle):
    from napari_scdl.align import align_sections

    a = slides["slide1"]
    shift = np.array([310.0, -175.0])
    b, R = _moved_copy(a, angle, shift)
    al = align_sections(a, b)
    # b = R a + t, so the map of b onto a is R^-1 (x - t): angle -angle, shift -R^T t
    err = (al.angle_deg + angle + 180) % 360 - 180
    assert abs(err) < 2.0, al
    assert np.linalg.norm(al.shift - (-(R.T @ shift))) < al.spacing, al
    moved = al.apply(b.obsm["spatial"])
    truth_xy = np.asarray(a.obsm["spatial"], dtype=float)[np.isin(a.obs_names, b.obs_names)]
    assert np.median(np.linalg.norm(moved - truth_xy, axis=1)) < 0.5 * al.spacing


def test_adjacent_sections_are_linked_in_the_graph(slides):
    """Two sections of one block (the second rotated and shifted) and a third slide: the
    pair is aligned, the transform stored, edges join facing spots, none reach slide3."""
    from napari_scdl.cohort._batch import batch_indices, block_graph
    from napari_scdl.tl import cohort_domains
    from napari_scdl.tl.cohort import SAMPLE_KEY, align_blocks, joint_adata

    sec1 = slides["slide1"].copy()
    sec2, _ = _moved_copy(sec1, 30.0, (200.0, 90.0), seed=5)
    other = slides["slide2"].copy()
    cohort = {"sec1": sec1, "sec2": sec2, "slide2": other}
    blocks = {"sec1": "B1", "sec2": "B1", "slide2": ""}
    links = align_blocks(cohort, blocks)
    assert list(links) == ["sec2"] and links["sec2"]["ref"] == "sec1"
    joint = joint_adata(cohort)
    joint.uns["cohort_setup"] = {"links": {"0": links["sec2"]}}
    g = block_graph(joint, batch_indices(joint, SAMPLE_KEY), n_neighbors=6).tocoo()
    sid = joint.obs[SAMPLE_KEY].astype(str).to_numpy()
    across = sid[g.row] != sid[g.col]
    pairs = {tuple(sorted((sid[r], sid[c]))) for r, c in
             zip(g.row[across], g.col[across], strict=True)}
    assert pairs == {("sec1", "sec2")} and across.sum() > sec2.n_obs

    res = cohort_domains([sec1, sec2, other], sample_ids=list(cohort), n_domains=5,
                         use_histology=False, seed=0, blocks=blocks, **FAST)
    al = res.adatas["sec2"].uns["domain"]["alignment"]
    assert al["ref"] == "sec1" and abs(al["angle_deg"] + 30.0) < 2.0 and al["n_edges"] > 0
    assert np.asarray(al["matrix"]).shape == (3, 3)
    assert "alignment" not in res.adatas["sec1"].uns["domain"]
    assert res.adatas["sec2"].uns["domain"]["cohort"]["block"] == "B1"
    assert res.params["blocks"] == {"sec1": "B1", "sec2": "B1"}
    # facing spots of the two sections get the same domain
    same = sec1.obs["domain"].reindex(sec2.obs_names).astype(str)
    agree = (same.to_numpy() == sec2.obs["domain"].astype(str).to_numpy()).mean()
    assert agree > 0.85, agree
