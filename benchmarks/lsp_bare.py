"""The baseline language server: bare pygls 2, nothing of vivavoce.

    python -m benchmarks.lsp_bare                  # no handlers (spawn → initialize, RSS)
    python -m benchmarks.lsp_bare --status-handler # + a trivial ``realtime/status`` handler

``LanguageServer("bare", "0")`` + ``start_io()``: the cost any pygls server pays (interpreter,
pygls, lsprotocol, the stdio loop). With ``--status-handler`` it answers ``realtime/status``
with a constant object shaped like vivavoce's status, so a request round trip has the same
wire shape as the product's.
"""

from __future__ import annotations

import sys
from typing import Any

from pygls.lsp.server import LanguageServer

STATUS: dict[str, Any] = {
    "state": "live",
    "mode": "realtime",
    "voice": "alloy",
    "model": "gpt-realtime",
    "muted": False,
    "pushToTalk": False,
    "inputLevel": 0.0,
    "callId": "rtc_bench",
    "error": None,
}


def main(argv: list[str]) -> None:
    server = LanguageServer("bare", "0")
    if "--status-handler" in argv:

        @server.feature("realtime/status")
        def status(_params: Any) -> dict[str, Any]:
            return STATUS

    server.start_io()


if __name__ == "__main__":
    main(sys.argv[1:])
