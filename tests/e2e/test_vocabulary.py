"""The code in front of the user reaches a live call's transcription: the real language server
process, a scripted Realtime server on 127.0.0.1 that records what the client sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.editor import SERVER, Editor, end_server, init_params
from tests.integration.scripted_server import Script, ScriptedServer

CODE = "def getUserById(user_id):\n    max_retries = 3\n    return fetchRecord(user_id)\n"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def bare(lsp_client: LanguageClient) -> AsyncIterator[None]:
    yield
    await end_server(lsp_client)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = await ScriptedServer(Script()).start()
    yield server
    await server.close()


def _transcriptions(server: ScriptedServer) -> list[dict[str, Any]]:
    return [
        e["session"]["audio"]["input"]["transcription"]
        for e in server.received
        if e.get("type") == "session.update"
    ]


async def test_open_documents_reach_the_live_call_without_a_new_call(
    bare: LanguageClient, scripted: ScriptedServer
) -> None:
    editor = Editor(bare)
    options = {"peer": scripted.base_url, "transcription": {"words": ["vivavoce"]}}
    await bare.initialize_session(init_params(options))
    status = await editor.request("realtime/start")
    assert status["state"] == "live"
    call_id = status["callId"]
    await editor.until(lambda: bool(_transcriptions(scripted)))
    first = _transcriptions(scripted)[0]
    assert first["keywords"] == ["vivavoce"]  # nothing open yet: the fixed words

    # The user opens a document and puts the cursor in it: between turns, the call's
    # transcription gets its words in a session.update.
    editor.open(CODE)
    editor.select((2, 4))
    await editor.until(lambda: "getUserById" in _transcriptions(scripted)[-1].get("keywords", []))
    words = _transcriptions(scripted)[-1]["keywords"]
    assert words[:2] == ["vivavoce", "vivavoce-notes.md"]
    assert {"getUserById", "max_retries", "fetchRecord", "user_id"} <= set(words)
    assert _transcriptions(scripted)[-1]["model"] == "gpt-transcribe"
    # The same call: no hang-up, no second call, still live.
    assert scripted.hangups == 0 and len(scripted._pcs) == 1
    status = await editor.request("realtime/status")
    assert status["state"] == "live" and status["callId"] == call_id

    # Turning the vocabulary off takes the document's words out again (the fixed words stay).
    bare.workspace_did_change_configuration(
        lsp.DidChangeConfigurationParams(
            settings={"vivavoce": {"transcription": {"codeVocabulary": False}}}
        )
    )
    await editor.until(lambda: _transcriptions(scripted)[-1].get("keywords") == ["vivavoce"])
    assert scripted.hangups == 0 and len(scripted._pcs) == 1
    await editor.request("realtime/stop")


async def test_a_dictation_call_follows_the_code_in_front_of_the_user(
    bare: LanguageClient, scripted: ScriptedServer
) -> None:
    """Dictation writes "get user by id" as getUserById only if the transcription hears it:
    its transcription session gets the open document's words too, between utterances."""
    editor = Editor(bare)
    options = {"peer": scripted.base_url, "transcription": {"words": ["vivavoce"]}}
    await bare.initialize_session(init_params(options))
    status = await editor.request("realtime/start", {"mode": "dictation"})
    assert status["state"] == "live" and status["mode"] == "dictation"
    await editor.until(lambda: bool(_transcriptions(scripted)))
    assert _transcriptions(scripted)[0]["keywords"] == ["vivavoce"]
    editor.open(CODE)
    editor.select((2, 4))
    await editor.until(lambda: "getUserById" in _transcriptions(scripted)[-1].get("keywords", []))
    sent = [e for e in scripted.received if e.get("type") == "session.update"][-1]["session"]
    assert sent["type"] == "transcription"
    assert scripted.hangups == 0 and len(scripted._pcs) == 1
    await editor.request("realtime/stop")
