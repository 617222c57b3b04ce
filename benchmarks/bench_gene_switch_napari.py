"""How long does switching the painted gene take in a real napari viewer?

The full switch as the "Genes & markers" widget does it: ``tl.gene_values`` (cached
log-normalised expression) + ``show_values`` (colormap lookup + spot colours written into
the result layer and the marker visual's GPU buffer). Timed on the real DLPFC slide and on
``synthetic_visium(100_000, image=False)``: the first switch (builds the cache and the
result layer) separately, then 50 switches between random genes. For comparison, napari's
public setter ``layer.face_color = rgba`` and the time the canvas takes to draw the new
colours (``processEvents``; under Xvfb this is software OpenGL, a GPU draws in a few ms).
Target: switch < 50 ms at 100,000 spots. Needs a display:

    xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_gene_switch_napari.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dlpfc151673"


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1e3


def _time_sample(name: str, adata, n_switch: int, n_draw: int, seed: int = 0) -> str:
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_scdl._qt.common.result_layers import show_values
    from napari_scdl._qt.common.samples import spot_layers
    from napari_scdl._qt.launch import add_sample
    from napari_scdl.colors import colormap_lut
    from napari_scdl.tl.expression import EXPRESSION_CACHE, gene_values

    EXPRESSION_CACHE.clear()
    viewer = napari.Viewer(show=True)
    add_sample(viewer, adata)
    viewer.reset_view()
    QApplication.processEvents()
    spots = spot_layers(viewer)[0]
    genes = list(adata.var_names)
    rng = np.random.default_rng(seed)

    def switch(gene):
        values = gene_values(adata, gene)
        return show_values(viewer, spots, values, "gene expression")[0]

    t0 = time.perf_counter()
    layer = switch(genes[0])
    first = _ms(t0)
    QApplication.processEvents()
    picks = [genes[j] for j in rng.choice(len(genes), n_switch, replace=len(genes) < n_switch)]
    times = []
    for gene in picks:
        t0 = time.perf_counter()
        switch(gene)
        times.append(_ms(t0))
    setter, draw = [], []
    for gene in picks[:n_draw]:
        values = gene_values(adata, gene)
        t = (values - values.min()) / max(float(np.ptp(values)), 1e-12)
        rgba = colormap_lut("viridis")[(t * 255).astype(int)]
        t0 = time.perf_counter()
        layer.face_color = rgba  # napari's public path
        setter.append(_ms(t0))
        switch(gene)
        t0 = time.perf_counter()
        QApplication.processEvents()  # the canvas draws the new colours
        draw.append(_ms(t0))
    viewer.close()
    t = np.asarray(times)
    return (
        f"| {name} | {adata.n_obs:,} | {first:.0f} | {np.median(t):.1f} | "
        f"{np.percentile(t, 95):.1f} | {t.max():.1f} | {np.median(setter):.0f} | "
        f"{np.median(draw):.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-spots", type=int, default=100_000)
    parser.add_argument("--switches", type=int, default=50)
    parser.add_argument("--draws", type=int, default=5, help="switches timed with drawing")
    args = parser.parse_args()

    from napari_scdl.datasets import synthetic_visium

    rows = [
        "| sample | spots | first switch (ms) | switch median (ms) | switch p95 (ms) | "
        "switch max (ms) | napari `face_color =` median (ms) | canvas draw median (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if DATA.exists():
        from napari_scdl.io import read

        rows.append(_time_sample("DLPFC 151673", read(DATA), args.switches, args.draws))
    synth = synthetic_visium(args.n_spots, image=False)
    rows.append(_time_sample("synthetic", synth, args.switches, args.draws))
    print("\n".join(rows))
    print(
        "\nswitch = gene_values + show_values (what the widget does per gene); the canvas "
        "draw is separate and depends on the GPU (Xvfb = software rendering)."
    )


if __name__ == "__main__":
    main()
