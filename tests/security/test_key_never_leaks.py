"""The API key never appears in a log, a message, a notification or a history file.

A whole session through the real ``vivavoce lsp`` process, with a recognizable key, including
failures (a wrong key, a refused model), then every output is searched for the key.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.e2e.editor import end_server, init_params
from tests.e2e.test_lsp import SERVER, Editor

from .probes import listening_ports

KEY = "sk-test-LEAKCANARY-0123456789abcdef"


@pytest.fixture
async def keyed_peer() -> AsyncIterator[Any]:
    from vivavoce.peer import start_peer

    peer = await start_peer(host="127.0.0.1", port=0, api_key=KEY)
    yield peer
    await peer.close()


DEBUG_SERVER = [*SERVER[:-1], "--log-level", "debug", "lsp"]  # everything to stderr


@pytest_lsp.fixture(config=ClientServerConfig(server_command=DEBUG_SERVER))
async def client(lsp_client: LanguageClient) -> AsyncIterator[None]:
    yield


@pytest.fixture(autouse=True)
def _key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the server process inherits it


async def test_a_full_session_with_failures_never_shows_the_key(
    keyed_peer: Any,
    client: LanguageClient,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from vivavoce.peer import start_peer

    caplog.set_level("DEBUG")
    editor = Editor(client)
    await client.initialize_session(
        lsp.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={"vivavoce": {"peer": keyed_peer.base_url, "logLevel": "debug"}},
        )
    )
    await editor.request("realtime/start")
    await editor.request("realtime/sendText", {"text": "hello there"})
    await editor.until(lambda: len(editor.finals("assistant")) == 1)
    await editor.request("realtime/toggleMode")
    await editor.request("realtime/sendText", {"text": "and in text"})
    await editor.request("realtime/stop")

    other = await start_peer(host="127.0.0.1", port=0, api_key="sk-someone-else")
    try:
        # A peer that does not know our key: refused, and the message must not echo it.
        client.workspace_did_change_configuration(
            lsp.DidChangeConfigurationParams(settings={"vivavoce": {"peer": other.base_url}})
        )
        await asyncio.sleep(0.3)
        with pytest.raises(JsonRpcException) as refused:
            await editor.request("realtime/start", {"mode": "realtime"})
        assert "API key rejected" in str(refused.value)
    finally:
        await other.close()
    client.workspace_did_change_configuration(
        lsp.DidChangeConfigurationParams(
            settings={"vivavoce": {"peer": keyed_peer.base_url, "model": "gpt-nope"}}
        )
    )
    await asyncio.sleep(0.3)
    with pytest.raises(JsonRpcException):
        await editor.request("realtime/start", {"mode": "realtime"})
    await client.shutdown_session()

    outputs: dict[str, str] = {
        "errors": str(refused.value),
        "statuses": repr(editor.statuses),
        "transcripts": repr(editor.transcripts),
        "showMessage": repr([m.message for m in client.messages]),
        "logMessage": repr([m.message for m in client.log_messages]),
        "server stderr and test output": "".join(capfd.readouterr()),
        "in-process logs": caplog.text,
    }
    history = Path(os.environ["VIVAVOCE_HISTORY_DIR"])
    files = list(history.glob("*"))
    assert files, "the session left no history to check"
    for path in files:
        outputs[f"history {path.name}"] = path.read_text()
    # Debug logs of every library did flow, and were searched.
    assert len(outputs["server stderr and test output"]) > 10_000
    leaks = [where for where, text in outputs.items() if KEY in text or KEY[8:] in text]
    assert leaks == []


#: Anything in an output that could be a key: a long run of key characters.
CANDIDATE = re.compile(r"[A-Za-z0-9_\-]{20,}")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=DEBUG_SERVER))
async def embedded(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """The real ``vivavoce lsp`` at debug level; the test uses the embedded peer."""
    yield
    await end_server(lsp_client)


async def test_the_embedded_peers_key_never_shows_in_any_output(
    embedded: LanguageClient, capfd: pytest.CaptureFixture[str]
) -> None:
    """The key the language server gave its own peer is in no log, message or history file.

    The test does not know that key: every string in every output that could be one is tried
    as a bearer on the running peer, and none may be accepted.
    """
    editor = Editor(embedded)
    await embedded.initialize_session(init_params({"peer": "embedded", "logLevel": "debug"}))
    await editor.request("realtime/start")
    await editor.request("realtime/sendText", {"text": "hello there"})
    await editor.until(lambda: len(editor.finals("assistant")) == 1)
    await editor.request("realtime/toggleMode")
    await editor.request("realtime/sendText", {"text": "and in text"})
    await editor.until(lambda: len(editor.finals("assistant")) == 2)
    process = embedded._server
    assert process is not None
    (port,) = listening_ports(process.pid)
    base_url = f"http://127.0.0.1:{port}/v1"

    outputs = {
        "statuses": repr(editor.statuses),
        "transcripts": repr(editor.transcripts),
        "showMessage": repr([m.message for m in embedded.messages]),
        "logMessage": repr([m.message for m in embedded.log_messages]),
        "server stderr": "".join(capfd.readouterr()),
    }
    for path in Path(os.environ["VIVAVOCE_HISTORY_DIR"]).glob("*"):
        outputs[f"history {path.name}"] = path.read_text()
    assert len(outputs["server stderr"]) > 10_000  # debug logs did flow
    assert outputs["logMessage"] != "[]"
    candidates = {c for text in outputs.values() for c in CANDIDATE.findall(text)}
    candidates |= {"local", "sk-test-LEAKCANARY-0123456789abcdef"}  # guesses, for good measure
    accepted = []
    async with httpx.AsyncClient(timeout=10) as http:
        for candidate in sorted(candidates):
            reply = await http.get(
                f"{base_url}/models", headers={"Authorization": f"Bearer {candidate}"}
            )
            if reply.status_code != 401:
                accepted.append((candidate[:6], reply.status_code))
    assert accepted == []
    assert editor.client.messages == []
    await editor.request("realtime/stop")
    await embedded.shutdown_session()


async def test_the_peer_process_key_is_in_no_output(capfd: pytest.CaptureFixture[str]) -> None:
    """The peer process (beside real sound devices) never prints the key it got on stdin."""
    from vivavoce.peer.process import PeerProcess

    peer = await PeerProcess.start()
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            for key in (peer.api_key, "wrong", peer.api_key[:-1]):
                await http.get(
                    f"{peer.base_url}/models", headers={"Authorization": f"Bearer {key}"}
                )
            await http.post(
                f"{peer.base_url}/realtime/calls",
                content="v=0\r\nm=\r\n",
                headers={"Authorization": f"Bearer {peer.api_key}", "Host": "evil.example"},
            )
    finally:
        await peer.close()
    printed = "".join(capfd.readouterr())
    assert peer.api_key not in printed and peer.api_key[:16] not in printed
