"""Where and how vivavoce's commands log: one line per record, on stderr.

stdout is never for logs: it carries LSP messages (``vivavoce lsp``) or the one
``listening on …`` line that clients and tests wait for (``vivavoce peer``, ``vivavoce web``).
"""

from __future__ import annotations

import logging
import sys

__all__ = ["FORMAT", "log_to_stderr"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_stderr(level: str) -> None:
    """Log records of ``level`` (a name such as ``warning``, any case) and above to stderr."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format=FORMAT)
