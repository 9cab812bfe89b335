"""The language server's logs: vivavoce's records to the editor, pygls' expected errors short.

* :class:`ClientLogHandler` forwards vivavoce's log records as ``window/logMessage``;
* :func:`set_log_level` applies the ``logLevel`` setting to it and to stderr;
* :class:`ExpectedErrors` turns pygls' traceback for an error answer that was meant (bad
  params, no call) into one line.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import TYPE_CHECKING

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer


class ExpectedErrors(logging.Filter):
    """pygls logs every error answer with a traceback; an expected one is one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, JsonRpcException) and exc.code != lsp.ErrorCodes.InternalError:
            record.msg, record.args = f"answered with an error: {exc}", ()
            record.exc_info, record.exc_text, record.levelno, record.levelname = (
                None, None, logging.INFO, "INFO",
            )  # fmt: skip
        return True


def set_log_level(level: str) -> None:
    """The ``logLevel`` setting: what reaches the editor's log (and stderr)."""
    logger = logging.getLogger("vivavoce")
    logger.setLevel(level.upper())
    for handler in logger.handlers:
        if isinstance(handler, ClientLogHandler):
            handler.setLevel(level.upper())


class ClientLogHandler(logging.Handler):
    """Forwards vivavoce's log records to the client as window/logMessage."""

    def __init__(self, server: LanguageServer) -> None:
        super().__init__()
        self.server = server
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "busy", False) or self.server.protocol.writer is None:
            return
        self._local.busy = True  # sending may log; never recurse
        kind = (
            lsp.MessageType.Error
            if record.levelno >= logging.ERROR
            else lsp.MessageType.Warning
            if record.levelno >= logging.WARNING
            else lsp.MessageType.Info
            if record.levelno >= logging.INFO
            else lsp.MessageType.Log
        )
        # If the client went away, stderr still has the record.
        try:
            with contextlib.suppress(Exception):
                message = lsp.LogMessageParams(type=kind, message=record.getMessage())
                self.server.window_log_message(message)
        finally:
            self._local.busy = False
