"""The real ``vivavoce lsp`` process, driven by pytest-lsp as an editor would drive it.

The embedded local peer answers (no network, no key). The test client keeps a real text buffer:
it applies the server's edits and echoes them back as ``didChange``, like an editor.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.editor import COMMANDS, DOC, SERVER, Editor, end_server, init_params


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def bare(lsp_client: LanguageClient) -> AsyncIterator[None]:
    """The real server process, not yet initialized."""
    yield
    await end_server(lsp_client)


@pytest.fixture
async def editor(bare: LanguageClient) -> AsyncIterator[Editor]:
    ed = Editor(bare)
    await bare.initialize_session(
        init_params({"peer": "embedded", "insertTranscripts": "assistant", "voice": "verse"})
    )
    yield ed
    await bare.shutdown_session()


async def test_spoken_session_streams_transcripts_and_inserts_replies_where_the_user_works(
    editor: Editor,
) -> None:
    editor.open("# Notes\nfirst line\n")
    status = await editor.request(
        "realtime/start",
        {"textDocument": {"uri": DOC}, "position": {"line": 1, "character": 0}},
    )
    assert status["state"] == "live" and status["mode"] == "realtime"
    assert status["voice"] == "verse"
    assert status["callId"].startswith("rtc_")
    # Progress: begin "Connecting", a report per step, end.
    reports = next(iter(editor.client.progress_reports.values()))
    assert isinstance(reports[0], lsp.WorkDoneProgressBegin) and reports[0].message == "Connecting"
    steps = [r.message for r in reports if isinstance(r, lsp.WorkDoneProgressReport)]
    assert "exchanging SDP" in steps and "waiting for session.created" in steps
    assert isinstance(reports[-1], lsp.WorkDoneProgressEnd)
    states = [s["state"] for s in editor.statuses]
    assert states[states.index("connecting") :] == ["connecting", "live"]

    await editor.request("realtime/sendText", {"text": "tell me about the weather"})
    await editor.until(lambda: len(editor.edits) == 1)
    assert editor.finals("user") == ["tell me about the weather"]
    reply = editor.finals("assistant")[0]
    assert "weather" in reply.lower()
    deltas = [t for t in editor.transcripts if t["role"] == "assistant" and "delta" in t]
    assert len(deltas) >= 2 and "".join(d["delta"] for d in deltas).strip() == reply.strip()
    assert editor.text == f"# Notes\n{reply}\nfirst line\n"

    # The user types above the insertion point before the next turn.
    editor.type_at(0, 0, "Typed while talking\n")
    await editor.command("vivavoce.sendText", ["and the tests"])
    await editor.until(lambda: len(editor.edits) == 2)
    second = editor.finals("assistant")[1]
    assert editor.text == f"Typed while talking\n# Notes\n{reply}\n{second}\nfirst line\n"

    status = await editor.request("realtime/stop")
    assert status["state"] == "idle"
    assert editor.statuses[-1]["state"] == "idle"
    # Every final turn is in the history file the editor can open.
    from vivavoce.store import read_conversation

    history = await editor.command("vivavoce.openHistory")
    saved = read_conversation(Path(history["path"]))
    assert [t.text for t in saved.turns if t.role == "assistant"] == [reply, second]
    assert oct(Path(history["path"]).stat().st_mode & 0o777) == "0o600"
    assert editor.client.messages == []  # nothing went wrong, nothing to show


async def test_second_start_while_live_starts_no_second_call(editor: Editor) -> None:
    first = await editor.request("realtime/start")
    again = await editor.command("vivavoce.start")
    assert again["callId"] == first["callId"]
    assert [s["state"] for s in editor.statuses].count("connecting") == 1
    await editor.request("realtime/stop")
    assert (await editor.request("realtime/stop"))["state"] == "idle"  # idempotent


async def test_commands_are_advertised_for_command_palettes(bare: LanguageClient) -> None:
    result = await bare.initialize_session(init_params({"peer": "embedded"}))
    provider = result.capabilities.execute_command_provider
    assert provider is not None
    assert set(provider.commands) == {f"vivavoce.{c}" for c in COMMANDS}
    await bare.shutdown_session()


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("realtime/sendText", {}, "invalid params: text: Field required"),
        ("realtime/sendText", {"text": ""}, "invalid params: text: String should have at least 1"),
        (
            "realtime/pushToTalk",
            {"pressed": "maybe"},
            "invalid params: pressed: Input should be a valid boolean",
        ),
        (
            "realtime/start",
            {"mode": "telepathy"},
            "invalid params: mode: Input should be 'realtime', 'text' or 'dictation'",
        ),
        (
            "realtime/start",
            {"position": {"line": -1, "character": 0}},
            "invalid params: position.line",
        ),
        (
            "realtime/mute",
            {"muted": True, "volume": 3},
            "invalid params: volume: Extra inputs are not permitted",
        ),
    ],
)
async def test_bad_params_are_invalid_params_naming_the_field(
    editor: Editor, method: str, params: dict[str, Any], expected: str
) -> None:
    with pytest.raises(JsonRpcException) as info:
        await editor.request(method, params)
    assert info.value.code == lsp.ErrorCodes.InvalidParams
    assert str(info.value).startswith(expected)
    assert "Traceback" not in str(info.value)
    # The server keeps answering.
    assert (await editor.request("realtime/status"))["state"] == "idle"


async def test_unknown_command_is_a_clear_error(editor: Editor) -> None:
    with pytest.raises(JsonRpcException) as info:
        await editor.command("vivavoce.fly")
    assert "vivavoce.fly" in str(info.value)
    assert (await editor.request("realtime/status"))["state"] == "idle"


async def test_commands_take_positional_or_object_arguments(editor: Editor) -> None:
    muted = await editor.command("vivavoce.mute", [True])
    assert muted["muted"] is True
    unmuted = await editor.command("vivavoce.mute", [{"muted": False}])
    assert unmuted["muted"] is False


async def test_sending_text_with_no_call_says_so(editor: Editor) -> None:
    with pytest.raises(JsonRpcException, match="cannot send text: no live call"):
        await editor.request("realtime/sendText", {"text": "hello"})


async def test_refused_edit_is_said_once_and_transcripts_keep_coming(editor: Editor) -> None:
    editor.open("x\n")
    editor.refuse_edits = True
    await editor.request(
        "realtime/start", {"textDocument": {"uri": DOC}, "position": {"line": 0, "character": 0}}
    )
    await editor.request("realtime/sendText", {"text": "one"})
    await editor.until(lambda: len(editor.finals("assistant")) == 1)
    await editor.request("realtime/sendText", {"text": "two"})
    await editor.until(lambda: len(editor.finals("assistant")) == 2)
    warnings = [m.message for m in editor.client.messages]
    assert len(warnings) == 1 and "refused the edit (user said no)" in warnings[0]
    assert editor.text == "x\n"
    await editor.request("realtime/stop")


async def test_start_without_a_key_against_a_real_server_fails_in_one_line(
    bare: LanguageClient,
) -> None:
    # No request leaves the machine: the missing key is caught before any HTTP.
    await bare.initialize_session(
        init_params({"peer": "openai", "baseUrl": "https://realtime.invalid/v1"})
    )
    editor = Editor(bare)
    with pytest.raises(JsonRpcException) as info:
        await editor.request("realtime/start")
    assert str(info.value) == "no API key: set OPENAI_API_KEY or the vivavoce apiKey setting"
    assert editor.statuses[-1]["state"] == "error"
    assert (await editor.request("realtime/status"))["error"] == str(info.value)
    await bare.shutdown_session()


async def test_empty_configuration_change_resets_nothing_and_bad_values_are_refused(
    bare: LanguageClient,
) -> None:
    # Like eglot: initializationOptions, then an empty didChangeConfiguration.
    await bare.initialize_session(init_params({"peer": "embedded", "voice": "verse"}, spec="emacs"))
    editor = Editor(bare)
    bare.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings={}))
    bare.workspace_did_change_configuration(
        lsp.DidChangeConfigurationParams(
            settings={"vivavoce": {"turnDetection": {"threshold": 7}, "voice": "sage"}}
        )
    )
    await editor.until(lambda: bool(bare.messages), timeout=5)
    assert "'turnDetection.threshold' is invalid" in bare.messages[0].message
    status = await editor.request("realtime/status")
    assert status["voice"] == "sage"  # the good key of the same change still applies
    await bare.shutdown_session()


async def test_choices_made_at_start_survive_configuration_changes(editor: Editor) -> None:
    # The user picks a model and a voice for this conversation; the editor then sends an
    # unrelated configuration change mid-call (as VS Code does when any setting is edited).
    first = await editor.request("realtime/start", {"model": "gpt-realtime-mini", "voice": "sage"})
    assert (first["model"], first["voice"]) == ("gpt-realtime-mini", "sage")
    editor.client.workspace_did_change_configuration(
        lsp.DidChangeConfigurationParams(settings={"vivavoce": {"insertTranscripts": "both"}})
    )
    await editor.request("realtime/sendText", {"text": "hello there"})
    await editor.until(lambda: len(editor.finals("assistant")) == 1)
    status = await editor.request("realtime/status")
    assert (status["model"], status["voice"]) == ("gpt-realtime-mini", "sage")
    assert status["callId"] == first["callId"]  # nothing the call uses changed: same call
    # A configured value that does change is the newest choice: the call is replaced, with
    # the new voice and still the model the user chose.
    editor.client.workspace_did_change_configuration(
        lsp.DidChangeConfigurationParams(settings={"vivavoce": {"voice": "cedar"}})
    )
    await editor.until(
        lambda: (
            editor.statuses[-1]["state"] == "live"
            and editor.statuses[-1]["callId"] != first["callId"]
        )
    )
    status = await editor.request("realtime/status")
    assert (status["model"], status["voice"]) == ("gpt-realtime-mini", "cedar")
    assert editor.client.messages == []
    await editor.request("realtime/stop")


async def test_the_peer_going_away_mid_call_reconnects_then_falls_back_to_text(
    bare: LanguageClient,
) -> None:
    peer = subprocess.Popen(
        [sys.executable, "-m", "vivavoce", "peer", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.stdout is not None
        url = peer.stdout.readline().split()[-1]
        await bare.initialize_session(init_params({"peer": url, "reconnectAttempts": 2}))
        editor = Editor(bare)
        await editor.request("realtime/start")
        await editor.request("realtime/sendText", {"text": "keep this"})
        await editor.until(lambda: len(editor.finals("assistant")) == 1)
        peer.send_signal(signal.SIGTERM)
        await editor.until(lambda: editor.statuses[-1]["mode"] == "text" and bool(bare.messages))
        states = [s["state"] for s in editor.statuses]
        assert "reconnecting" in states
        assert states[-1] == "live"  # text mode: the conversation goes on
        assert len(bare.messages) == 1
        message = bare.messages[0]
        assert message.type == lsp.MessageType.Error
        assert "the call ended" in message.message and "continuing in text mode" in message.message
        status = await editor.request("realtime/status")
        assert status["mode"] == "text" and status["error"]
    finally:
        peer.kill()
        peer.wait()
        if peer.stdout is not None:
            peer.stdout.close()
    await bare.shutdown_session()


async def test_closing_stdin_ends_the_server() -> None:
    proc = await asyncio.create_subprocess_exec(
        *SERVER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ},
    )
    assert proc.stdin is not None
    proc.stdin.close()
    assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_toggling_modes_keeps_the_conversation_and_maps_the_voice(editor: Editor) -> None:
    await editor.request("realtime/start", {"voice": "verse"})
    await editor.request("realtime/sendText", {"text": "my name is Ada"})
    await editor.until(lambda: len(editor.finals("assistant")) == 1)
    status = await editor.command("vivavoce.toggleMode")
    assert (status["mode"], status["state"], status["voice"]) == ("text", "live", "echo")
    voices = await editor.request("realtime/voices")
    assert status["voice"] in voices["text"] and "verse" in voices["realtime"]
    await editor.request("realtime/sendText", {"text": "what is my name"})
    assert "my name is Ada" in editor.finals("assistant")[-1]
    status = await editor.request("realtime/toggleMode")
    assert (status["mode"], status["state"], status["voice"]) == ("realtime", "live", "verse")
    await editor.request("realtime/stop")


async def test_a_refused_call_rolls_back_to_text_mode_and_says_why_once(
    bare: LanguageClient,
) -> None:
    await bare.initialize_session(init_params({"peer": "embedded", "model": "gpt-nope"}))
    editor = Editor(bare)
    await editor.request("realtime/start", {"mode": "text"})
    status = await editor.request("realtime/toggleMode")
    assert (status["mode"], status["state"]) == ("text", "live")
    assert "Invalid value: 'gpt-nope'" in status["error"]
    await editor.until(lambda: bool(bare.messages), timeout=5)
    assert len(bare.messages) == 1 and "stayed in text mode" in bare.messages[0].message
    await editor.request("realtime/sendText", {"text": "still talking"})
    assert editor.finals("assistant")[-1].startswith("You said: still talking")
    await bare.shutdown_session()


async def test_stdio_flag_and_requests_without_params_are_accepted() -> None:
    # Raw JSON-RPC, as some clients send it: "--stdio", and "params" left out entirely.
    import json

    proc = await asyncio.create_subprocess_exec(
        *SERVER, "--stdio", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def send(message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)  # type: ignore[union-attr]

    async def answer(msg_id: int) -> dict[str, Any]:
        while True:
            header = await proc.stdout.readuntil(b"\r\n\r\n")  # type: ignore[union-attr]
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            message = json.loads(await proc.stdout.readexactly(length))  # type: ignore[union-attr]
            if message.get("id") == msg_id:
                return message  # type: ignore[no-any-return]

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
        await asyncio.wait_for(answer(1), 20)
        send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        send({"jsonrpc": "2.0", "id": 2, "method": "realtime/status"})
        assert (await asyncio.wait_for(answer(2), 10))["result"]["state"] == "idle"
        send({"jsonrpc": "2.0", "id": 3, "method": "realtime/stop", "params": None})
        assert (await asyncio.wait_for(answer(3), 10))["result"]["state"] == "idle"
    finally:
        proc.stdin.close()
        proc.kill()
        await proc.wait()


async def test_a_settings_pull_answered_late_does_not_undo_a_newer_change(
    bare: LanguageClient,
) -> None:
    """VS Code answers ``workspace/configuration`` when it gets to it: the answer to the pull
    after one change can arrive after the next change (seen: a cleared voice came back)."""
    config: dict[str, Any] = {"peer": "embedded", "voice": "verse"}
    holding, release = asyncio.Event(), asyncio.Event()
    hold = False
    pulls = 0

    async def configuration(params: lsp.ConfigurationParams) -> list[Any]:
        nonlocal hold, pulls
        answer = [dict(config) for _ in params.items]  # the settings as they are now
        if hold:
            hold = False
            holding.set()
            await release.wait()  # … sent only later
        pulls += 1
        return answer

    # A client slow to answer (pytest-lsp's own answer is immediate).
    bare.protocol.fm.features[lsp.WORKSPACE_CONFIGURATION] = configuration
    await bare.initialize_session(init_params(dict(config)))
    editor = Editor(bare)
    await editor.until(lambda: pulls == 1, timeout=5)

    config, hold = {"peer": "embedded", "voice": "sage"}, True
    bare.workspace_did_change_configuration(
        lsp.DidChangeConfigurationParams(settings={"vivavoce": config})
    )
    await asyncio.wait_for(holding.wait(), 5)
    config = {"peer": "embedded"}  # the voice setting cleared: its default
    bare.workspace_did_change_configuration(
        lsp.DidChangeConfigurationParams(settings={"vivavoce": {**config, "voice": "alloy"}})
    )
    await editor.until(lambda: pulls == 2, timeout=5)
    release.set()  # the answer about the first change arrives last
    await editor.until(lambda: pulls == 3, timeout=5)
    await asyncio.sleep(0.3)  # the server has read it
    assert (await editor.request("realtime/status"))["voice"] == "alloy"
    await bare.shutdown_session()
