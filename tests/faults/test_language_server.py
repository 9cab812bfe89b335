"""A real ``vivavoce lsp`` process whose ``peer`` setting points at a faulty peer.

Through every fault of the matrix the server keeps answering ``realtime/status``; start
failures come back as one-line JSON-RPC errors, drops as status changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.editor import SERVER, Editor, end_server, init_params
from tests.faults.conftest import KEY, admin
from tests.faults.test_matrix import START_FAULTS

pytestmark = pytest.mark.timeout(300)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def server(lsp_client: LanguageClient) -> AsyncIterator[None]:
    yield
    await end_server(lsp_client)


async def test_the_language_server_answers_status_through_every_fault(
    server: LanguageClient, faulty_peer: Any
) -> None:
    await server.initialize_session(
        init_params(
            {
                "peer": faulty_peer.base_url,
                "apiKey": KEY,
                "connectTimeout": 2,
                "reconnectAttempts": 1,
            }
        )
    )
    editor = Editor(server)
    for fault, (_, message) in sorted(START_FAULTS.items()):
        await admin(faulty_peer.base_url, faults=[fault])
        with pytest.raises(JsonRpcException) as info:
            await editor.request("realtime/start")
        assert str(info.value) == message, fault
        status = await editor.request("realtime/status")
        assert (status["state"], status["error"]) == ("error", message), fault

    await admin(faulty_peer.base_url, faults=[])
    for fault in ("channel-close", "session-expired"):
        first = await editor.request("realtime/start")
        assert first["state"] == "live", fault
        count = len(editor.statuses)
        await admin(faulty_peer.base_url, fire=[fault])
        await editor.until(
            lambda n=count: any(s["state"] == "reconnecting" for s in editor.statuses[n:])
        )
        await editor.until(lambda: editor.statuses[-1]["state"] == "live")
        status = await editor.request("realtime/status")
        assert status["state"] == "live" and status["callId"] != first["callId"], fault
        await editor.request("realtime/stop")

    for fault in ("malformed-json", "unknown-event", "oversize-message", "reject-events"):
        await editor.request("realtime/start")
        if fault == "reject-events":
            await admin(faulty_peer.base_url, faults=[fault])
        else:
            await admin(faulty_peer.base_url, fire=[fault])
        await asyncio.sleep(0.3)
        assert (await editor.request("realtime/status"))["state"] == "live", fault
        await admin(faulty_peer.base_url, faults=[])
        await editor.request("realtime/stop")

    await editor.request("realtime/start")
    await admin(faulty_peer.base_url, faults=["key-503"], fire=["session-expired"])
    await editor.until(lambda: bool(server.messages))
    status = await editor.request("realtime/status")
    assert (status["mode"], status["state"]) == ("text", "live")
    assert len(server.messages) == 1 and "continuing in text mode" in server.messages[0].message
    await server.shutdown_session()
