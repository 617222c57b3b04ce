"""``python -m napari_scdl.cli``."""

import sys

from . import main

sys.exit(main())
