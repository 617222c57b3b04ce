"""Run long work (a generator of Progress) off the GUI thread with progress and Cancel.

Errors of our own (:class:`~napari_scdl.errors.ScdlError`) are shown as a plain message;
anything else is shown briefly and logged with its traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ...errors import ScdlError

logger = logging.getLogger(__name__)


#: the messages of the error pop-ups shown by :func:`report_error`, closed by :func:`dismiss_errors`
_POSTED: set[str] = set()


def report_error(err: BaseException, where: str = "napari-scdl") -> str:
    """Show ``err`` to the user: plain message for ours, short message + logged traceback else."""
    from napari.utils.notifications import show_error

    if isinstance(err, ScdlError):
        msg = str(err)
    else:
        logger.error("%s failed", where, exc_info=(type(err), err, err.__traceback__))
        msg = f"{where} failed: {type(err).__name__}: {err} (details in the log)"
    _POSTED.add(msg)
    show_error(msg)
    return msg


def error_popups() -> list:
    """The error pop-ups of :func:`report_error` still on screen (napari's toasts)."""
    try:  # napari's notification toast; private, so tolerate it moving
        from napari._qt.dialogs.qt_notification import NapariQtNotification
    except ImportError:  # pragma: no cover - other napari versions
        return []
    out = []
    for w in list(getattr(NapariQtNotification, "_instances", [])):
        label = getattr(w, "message", None)
        if label is not None and label.text() in _POSTED:
            out.append(w)
    return out


def dismiss_errors() -> int:
    """Close the error pop-ups left by earlier failures (a later run succeeded).

    napari only starts a toast's dismiss timer while its window is active, so an error
    shown while the user looked elsewhere stayed on screen after the next run succeeded."""
    popups = error_popups()
    for w in popups:
        w.close()
    _POSTED.clear()
    return len(popups)


def show_warnings(label, adata, key: str) -> list[str]:
    """Show ``adata.uns[key]['warnings']`` (strings written by a run) in ``label`` (orange)
    and as napari warning notifications; hide ``label`` when there are none."""
    import html

    info = adata.uns.get(key, {}) if adata is not None else {}
    warnings = info.get("warnings", []) if isinstance(info, dict) else []
    if isinstance(warnings, str):
        warnings = [warnings]
    warnings = [str(w) for w in list(warnings) if str(w).strip()]
    label.setText("<br>".join(f"⚠ {html.escape(w)}" for w in warnings))
    label.setVisible(bool(warnings))
    if warnings:
        from napari.utils.notifications import show_warning

        for w in warnings:
            show_warning(f"{key}: {w}")
    return warnings


def warnings_label():
    """The orange label a panel shows a run's warnings in (hidden until there are some)."""
    label = QLabel("")
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {WARNING_COLOR}")
    label.setObjectName("scdl_warnings")
    label.setVisible(False)
    return label


#: orange of the warnings under a panel's summary
WARNING_COLOR = "#f0a030"


class Runner(QWidget):
    """Run / Cancel buttons, a progress bar and a status line driving a ``thread_worker``.

    The bar and the status line follow the work at most every ``min_interval`` seconds
    (and always at its last step): training yields a step per epoch, and repainting each
    of them made a 1,800-epoch domain run on DLPFC 151673 take 49.4 s instead of 45.1 s
    under a software-rendered display."""

    min_interval: float = 0.1

    def __init__(self, run_text: str = "Run", parent=None) -> None:
        super().__init__(parent)
        self.run_button = QPushButton(run_text)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.worker = None
        self.cancel_button.clicked.connect(self.cancel)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, work: Callable[[], Iterator], on_done: Callable[[], None],
              where: str = "napari-scdl") -> None:
        """Run ``work()`` (a generator of Progress) in a thread; call ``on_done`` on success."""
        from napari.qt.threading import create_worker

        if self.running:
            return

        def _generate():  # a generator *function*, so napari makes a GeneratorWorker
            yield from work()

        # errors are reported by _on_error; don't let napari re-raise them as tracebacks
        worker = create_worker(_generate, _start_thread=False, _ignore_errors=True)
        self.worker = worker
        self._last = None
        self._shown = float("-inf")
        # every signal checks that it comes from the current worker: a cancelled one may
        # still be finishing a step it cannot interrupt (a model's setup) and is ignored
        worker.yielded.connect(lambda p: self._on_progress(p) if self.worker is worker else None)
        worker.errored.connect(lambda e: self._on_error(e, where) if self.worker is worker else None)
        worker.finished.connect(lambda: self._on_finished() if self.worker is worker else None)
        worker.finished.connect(lambda: self._abandoned.discard(worker))
        self._on_done = on_done
        self._where = where
        self._failed = False
        self._cancelled = False
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.status.setText("starting…")
        worker.start()

    _abandoned: set = set()  # cancelled workers still finishing (kept alive until then)

    def cancel(self) -> None:
        """Stop the run: the panel is ready again at once and the run's result is discarded.

        The worker stops at its next step; a step that cannot be interrupted (a model's
        ``setup``, preprocessing) finishes in the background and its result is ignored."""
        worker = self.worker
        if worker is None:
            return
        self._cancelled = True
        worker.quit()
        type(self)._abandoned.add(worker)
        self.worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText("cancelled; nothing was changed")

    def _on_progress(self, p) -> None:
        self._last = p
        now = time.monotonic()
        last_step = getattr(p, "step", 0) >= getattr(p, "total", 0)
        if now - self._shown < self.min_interval and not last_step:
            return  # a repaint per epoch costs the training time (Qt shares the cores)
        self._shown = now
        if getattr(p, "total", 0):
            self.progress.setRange(0, int(p.total))
            self.progress.setValue(int(p.step))
        self.status.setText(getattr(p, "message", ""))

    def _on_error(self, err, where) -> None:
        self._failed = True
        self.status.setText(report_error(err, where))

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        if self._cancelled:
            self.progress.setValue(0)
            self.status.setText("cancelled; nothing was changed")
            return
        if self._failed:
            self.progress.setValue(0)
            return
        self.progress.setValue(1)
        dismiss_errors()  # this run worked: earlier error pop-ups are out of date
        try:
            self._on_done()
        except Exception as err:  # noqa: BLE001 - shown to the user, logged with traceback
            self.status.setText(report_error(err, where="showing the result"))
