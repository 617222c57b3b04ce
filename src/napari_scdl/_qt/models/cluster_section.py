"""Part of the "Models" dock widget: cluster any ``obsm`` embedding into domains."""

from __future__ import annotations

from collections.abc import Callable

from magicgui.widgets import ComboBox, Container, LineEdit, SpinBox
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...models import Progress
from ..common.runner import Runner, report_error

METHODS = ("gmm", "kmeans", "leiden")


def embedding_keys(adata) -> list[str]:
    """``obsm`` entries that are embeddings (2-D, not the spot coordinates)."""
    return [
        k
        for k, v in adata.obsm.items()
        if k != "spatial" and getattr(v, "ndim", 0) == 2 and v.shape[1] >= 1
    ]


class ClusterSection(QWidget):
    """Embedding, number of clusters, method, result name and a "Cluster embedding" runner;
    ``show(key)`` is called with the obs column written, to paint it on the tissue."""

    def __init__(self, viewer, sample, show: Callable[[str], None], parent=None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.sample = sample
        self._show = show
        self.opts = Container(
            widgets=[
                ComboBox(
                    name="embedding",
                    choices=[],
                    label="embedding",
                    tooltip="obsm entry to cluster (e.g. a model's X_<result name>)",
                ),
                SpinBox(
                    name="n_clusters",
                    value=7,
                    min=2,
                    max=200,
                    label="clusters",
                    tooltip="number of clusters (domains)",
                ),
                ComboBox(
                    name="method",
                    choices=list(METHODS),
                    value="gmm",
                    label="method",
                    tooltip="gmm: Gaussian mixture with tied covariance (~ mclust EEE); "
                    "kmeans; leiden on a kNN graph, resolution tuned to the count",
                ),
                LineEdit(
                    name="key_added",
                    value="",
                    label="result name",
                    tooltip="obs column the clusters are written to",
                ),
            ]
        )
        self.runner = Runner("Cluster embedding")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(QLabel("<b>Cluster an embedding</b>"))
        lay.addWidget(self.opts.native)
        lay.addWidget(self.runner)
        self.opts.embedding.changed.connect(self._default_name)
        self.runner.run_button.clicked.connect(self.run)
        self.refresh()

    def refresh(self, select: str | None = None) -> None:
        """Re-list the embeddings of the chosen sample (choosing ``select`` if present)."""
        layer = self.sample.layer
        keys = embedding_keys(layer.metadata["adata"]) if layer is not None else []
        current = self.opts.embedding.value
        self.opts.embedding.choices = keys
        pick = select if select in keys else current if current in keys else None
        if pick is not None:
            self.opts.embedding.value = pick
        self._default_name()

    def _default_name(self, *_) -> None:
        emb = self.opts.embedding.value
        if emb:
            self.opts.key_added.value = f"{emb.removeprefix('X_')}_clusters"

    @property
    def key(self) -> str:
        return self.opts.key_added.value.strip() or "clusters"

    def run(self) -> None:
        """Cluster the chosen embedding in a worker thread, then show the clusters."""
        from ...errors import ScdlError
        from ...tl import cluster

        try:
            adata = self.sample.adata
            emb = self.opts.embedding.value
            if not emb:
                raise ScdlError("this sample has no embedding yet: run a model first")
        except Exception as err:  # noqa: BLE001 - shown to the user
            self.runner.status.setText(report_error(err, "clustering"))
            return
        key, k, method = self.key, int(self.opts.n_clusters.value), self.opts.method.value

        def work():
            yield Progress(0, 1, f"clustering {emb} into {k} clusters ({method})…")
            cluster(adata, use_rep=emb, n_clusters=k, method=method, key_added=key)
            yield Progress(1, 1, f"wrote obs['{key}'] and obs['{key}_confidence']")

        self.runner.start(work, lambda: self._show(key), where="clustering")
