"""``python -m spladekit.cli``: the same command line as ``spladekit``."""

import sys

from . import main

sys.exit(main())
