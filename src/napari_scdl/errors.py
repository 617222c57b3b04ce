"""Error types a user can act on.

The GUI shows :class:`ScdlError` and its subclasses as a plain message; any other exception
is shown with its traceback in the log.
"""

from __future__ import annotations


class ScdlError(Exception):
    """Base class of every error napari-scdl raises on purpose (user-actionable)."""


class DataFormatError(ScdlError, ValueError):
    """Input data is missing, malformed or inconsistent. The message names file and remedy."""


class MissingKeyError(ScdlError, KeyError):
    """A key an analysis needs is absent from the AnnData; the message names the call that creates it."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class ModelSetupError(ScdlError, ValueError):
    """A model cannot be set up on this AnnData; the message lists every problem found."""


class Cancelled(ScdlError):
    """Long work was cancelled by the user."""
