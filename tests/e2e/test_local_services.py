"""A private assistant through the real ``vivavoce lsp`` (issue 21): its embedded peer answers
with the user's own servers (``localServices``), here a stub on loopback that passes requests
on to a second local peer, whose responder calls tools as a tool-capable local model would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.editor import DOC, SERVER, Editor, end_server, init_params
from tests.upstream_stub import StubUpstreams

TEXT = "# Notes\ncount = 1\nlast line\n"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def bare(lsp_client: LanguageClient) -> AsyncIterator[None]:
    yield
    await end_server(lsp_client)


@pytest.fixture
async def stub(peer: Any) -> AsyncIterator[StubUpstreams]:
    upstreams = await StubUpstreams(peer.base_url).start()
    yield upstreams
    await upstreams.close()


async def test_a_voice_tool_works_through_a_local_model_that_calls_tools(
    bare: LanguageClient, stub: StubUpstreams
) -> None:
    editor = Editor(bare)
    services = {"chatUrl": stub.base_url, "chatModel": "qwen2.5-coder", "speechUrl": stub.base_url}
    await bare.initialize_session(init_params({"peer": "embedded", "localServices": services}))
    editor.open(TEXT)
    editor.select((1, 0), (1, 5))
    await editor.request(
        "realtime/start", {"textDocument": {"uri": DOC}, "position": {"line": 1, "character": 0}}
    )
    await editor.request("realtime/sendText", {"text": "replace the selection with total"})
    await editor.until(lambda: bool(editor.finals("assistant")))
    assert editor.text == "# Notes\ntotal = 1\nlast line\n"
    assert editor.finals("tool") == [
        "replace_selection: replaced 'count' with 'total' in vivavoce-notes.md"
    ]
    # The model was offered the editor's tools and called one; its answer came from it too.
    first, second = stub.asked["chat"]
    assert first["model"] == "qwen2.5-coder"
    assert "replace_selection" in {t["function"]["name"] for t in first["tools"]}
    assert second["messages"][-1]["role"] == "tool"
    assert editor.finals("assistant")[0] == "Done. I replaced the selection."
    assert stub.asked["speech"]  # and it was said by the user's speech server
    assert stub.asked["transcriptions"] == []  # typed: nothing to recognize
    assert editor.client.messages == []
    await bare.shutdown_session()
