"""``$/progress`` while a call connects: begin "Connecting", one report per step, end.

Clients without progress support (eglot) get none; the ``realtime/status`` notifications
still tell them everything.
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)

#: How long a client may take to accept a progress token before we go on without progress.
CREATE_TIMEOUT = 2.0


class ConnectProgress:
    """The progress of the one connect under way (a server connects one call at a time)."""

    def __init__(self, server: LanguageServer) -> None:
        self._server = server
        self._token: int | str | None = None
        self._seq = 0

    async def begin(self, token: int | str | None) -> None:
        """Start reporting, on the client's ``workDoneToken`` or on one we create."""
        server = self._server
        self._token = None
        caps = server.client_capabilities.window
        if token is None:
            if not (caps and caps.work_done_progress):
                return  # e.g. eglot: no progress support, status notifications still flow
            self._seq += 1
            token = f"vivavoce-connect-{self._seq}"
            try:
                await asyncio.wait_for(
                    server.work_done_progress.create_async(token), CREATE_TIMEOUT
                )
            except (TimeoutError, JsonRpcException) as exc:
                log.info("no progress: %s", exc)
                return
        self._token = token
        server.work_done_progress.begin(
            token,
            lsp.WorkDoneProgressBegin(title="vivavoce", message="Connecting", cancellable=False),
        )

    def step(self, step: str) -> None:
        if self._token is not None:
            self._server.work_done_progress.report(
                self._token, lsp.WorkDoneProgressReport(message=step)
            )

    def end(self, message: str) -> None:
        if self._token is not None:
            self._server.work_done_progress.end(
                self._token, lsp.WorkDoneProgressEnd(message=message)
            )
            self._token = None
