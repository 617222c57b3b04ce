"""``python -m napari_scdl`` runs the command line."""

import sys

from .cli import main

sys.exit(main())
