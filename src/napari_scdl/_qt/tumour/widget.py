"""Dock widget "Tumour: subclones & programs" (issue 17).

Two tabs on the chosen sample: *Subclones* runs the ``subclones`` model on a region (a
category of an annotation/domain column, or the spots selected on the tissue), paints the
subclones inside the region only and draws their tree (click a subclone to highlight it);
*Gene programs* runs ``gene_programs`` for a grouping column and shows each program as a
ranked table, its score on the tissue and its gene network. Both go through
:func:`~napari_scdl.tl.run_model_iter`, the path the CLI's ``run`` takes.
"""

from __future__ import annotations

from qtpy.QtWidgets import QFrame, QLabel, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from ..common.samples import SampleSelector
from .programs_section import ProgramsSection
from .subclones_section import SubclonesSection


def _scrolling(widget: QWidget) -> QScrollArea:
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(widget)
    return scroll


class TumourWidget(QWidget):
    """Subclones inside a region and gene programs per group, for one sample."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.sample = SampleSelector(napari_viewer)
        self.subclones = SubclonesSection(napari_viewer, self.sample)
        self.programs = ProgramsSection(napari_viewer, self.sample)
        self.tabs = QTabWidget()
        self.tabs.addTab(_scrolling(self.subclones), "Subclones")
        self.tabs.addTab(_scrolling(self.programs), "Gene programs")
        self.setMinimumWidth(340)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("<b>Sample</b>"))
        lay.addWidget(self.sample)
        lay.addWidget(self.tabs)
        self.sample.changed.connect(lambda _: self._on_sample_changed())

    def _on_sample_changed(self) -> None:
        self.subclones.refresh()
        self.programs.groupby.refresh()
