"""``python -m cwfast``: the same program as the ``cwfast`` command."""

import sys

from .cli import main

sys.exit(main())
