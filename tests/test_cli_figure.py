"""``napari-scdl figure``: a PNG from the command line (napari renders it; needs a display)."""

from __future__ import annotations

import numpy as np

from napari_scdl.cli import main


def test_cli_figure_writes_png(small_adata, tmp_path, capsys, napari_app):
    from PIL import Image

    from napari_scdl.io import write_h5ad

    src = write_h5ad(small_adata, tmp_path / "s.h5ad")
    out = tmp_path / "fig.png"
    rc = main(
        [
            "figure",
            str(src),
            "--color-by",
            "MK1_0",
            "--out",
            str(out),
            "--dpi",
            "50",
            "--width",
            "3",
            "--vmin",
            "0",
            "--cmap",
            "inferno",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert f"wrote {out}" in capsys.readouterr().out
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] >= 150 and img.std() > 20


def test_cli_figure_errors_are_plain(small_adata, tmp_path, capsys, monkeypatch):
    from napari_scdl.io import write_h5ad

    src = write_h5ad(small_adata, tmp_path / "s.h5ad")
    rc = main(["figure", str(src), "--color-by", "NOPE", "--out", str(tmp_path / "f.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "neither an obs column" in err and "Traceback" not in err

    monkeypatch.setattr("napari_scdl.figure.has_display", lambda: False)
    rc = main(["figure", str(src), "--color-by", "truth", "--out", str(tmp_path / "f.png")])
    assert rc == 2 and "xvfb-run -a napari-scdl figure" in capsys.readouterr().err
    assert not (tmp_path / "f.png").exists()
