"""``python -m vivavoce.web``: see :mod:`vivavoce.web.cli`."""

import sys

from .cli import main

sys.exit(main())
