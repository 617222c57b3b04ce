"""What every dock panel shares: a scrolling body and a readable dock tab title.

Docked from the Plugins menu, a panel without a scroll area forced its full height on the
window (1,975 px on a 1,000 px screen, issue 12) and Qt squashed its settings into clipped
boxes; inside a scroll area the panel keeps its natural size and scrolls instead.
"""

from __future__ import annotations

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QDockWidget, QFrame, QScrollArea, QTabBar, QVBoxLayout, QWidget

#: the width a panel asks for: its forms read without clipping, two fit a 1280 px screen
PANEL_WIDTH = 360


def scroll_body(panel: QWidget, *, min_width: int = 320) -> QWidget:
    """Put a scroll area into ``panel`` and return the widget to lay the content out in.

    The first panel opened also makes napari-scdl napari's reader for folders, ``.zarr``
    and ``.h5ad`` (where the user set no preference): napari imports no plugin code at
    start-up, so without this File > Open Folder preselected "napari builtins"."""
    from ..._reader import prefer_scdl_reader

    prefer_scdl_reader()
    outer = QVBoxLayout(panel)
    outer.setContentsMargins(0, 0, 0, 0)
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    body = QWidget()
    area.setWidget(body)
    outer.addWidget(area)
    panel.setMinimumWidth(min_width)
    panel.scroll_area = area
    return body


def escape_mnemonic(text: str) -> str:
    """``text`` as Qt shows it literally in a tab or button ("&" -> "&&")."""
    return text.replace("&&", "\0").replace("&", "&&").replace("\0", "&&")


def polish_dock(panel: QWidget) -> None:
    """Fix the dock around ``panel`` once napari has docked it: a tab title with "&"
    ("Genes & markers") showed "Genes _markers" (Qt reads "&" as a shortcut mark), and
    the tabs of tabified panels elided their titles ("Learn _r…")."""

    def run():
        try:
            _polish(panel)
        except RuntimeError:  # the panel was closed (deleted) before the timer fired
            pass

    QTimer.singleShot(0, run)


def _polish(panel: QWidget) -> None:
    w = panel.parentWidget()
    while w is not None and not isinstance(w, QDockWidget):
        w = w.parentWidget()
    if w is None:
        return
    title = w.windowTitle()
    if "&" in title and "&&" not in title:
        w.setWindowTitle(escape_mnemonic(title))
    main = w.parentWidget()
    for bar in main.findChildren(QTabBar) if main is not None else []:
        bar.setUsesScrollButtons(True)
        bar.setElideMode(Qt.TextElideMode.ElideNone)


class PanelMixin:
    """``showEvent`` that polishes the dock around the panel (see :func:`polish_dock`)."""

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        polish_dock(self)
