"""The wire conformance checker: events against the openai SDK's types, unknown keys forbidden."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vivavoce.peer import conformance
from vivavoce.peer.wire import encode_server_event, parse_client_message
from vivavoce.realtime import events as ev

SPEECH_STARTED = {
    "type": "input_audio_buffer.speech_started",
    "event_id": "event_1",
    "audio_start_ms": 120,
    "item_id": "item_1",
}
USER_TEXT = {
    "type": "conversation.item.create",
    "event_id": "evt_1",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
}


def _problems(
    data: object, direction: conformance.Direction = "server", dialect: ev.Dialect = "ga"
) -> list[tuple[str, str]]:
    return [(v.path, v.problem) for v in conformance.check(data, direction, dialect)]


def test_a_valid_event_passes_both_ways() -> None:
    assert _problems(SPEECH_STARTED) == []
    assert _problems(USER_TEXT, "client") == []


def test_a_key_the_sdk_does_not_declare_fails_with_its_path() -> None:
    extra = json.loads(json.dumps(USER_TEXT))
    extra["item"]["content"][0]["lang"] = "en"
    assert _problems(extra, "client") == [("item.content.0.lang", "not a field of the SDK's type")]
    assert _problems({**SPEECH_STARTED, "confidence": 0.9}) == [
        ("confidence", "not a field of the SDK's type")
    ]


def test_a_wrong_type_fails_without_coercion() -> None:
    (problem,) = _problems({**SPEECH_STARTED, "audio_start_ms": "120"})
    assert problem == ("audio_start_ms", "Input should be a valid integer")
    (problem,) = _problems({k: v for k, v in SPEECH_STARTED.items() if k != "item_id"})
    assert problem == ("item_id", "Field required")


def test_a_union_member_reports_its_own_error_not_the_other_members() -> None:
    bad = json.loads(json.dumps(USER_TEXT))
    bad["item"]["content"][0]["text"] = 5
    assert _problems(bad, "client") == [("item.content.0.text", "Input should be a valid string")]


def test_types_are_checked_per_direction_and_dialect() -> None:
    assert _problems({"type": "response.create"}, "server") == [
        ("type", "not a ga server event type of the SDK")
    ]
    assert _problems({"type": "response.text.delta", "event_id": "e"})[0][0] == "type"
    beta = {"type": "session.update", "session": {"voice": "alloy", "modalities": ["text"]}}
    assert _problems(beta, "client", "beta") == []
    assert ("session.type", "Field required") in _problems(beta, "client", "ga")
    assert _problems(["not", "an", "event"], "client")[0][0] == "type"


def test_the_session_id_and_object_the_live_api_sends_are_accepted() -> None:
    created = {
        "type": "session.created",
        "event_id": "e",
        "session": {"type": "realtime", "id": "sess_1", "object": "realtime.session"},
    }
    assert _problems(created) == []
    assert _problems({**created, "type": "session.updated"}) == []


def test_the_peer_hooks_record_violations_in_the_named_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "violations.jsonl"
    monkeypatch.setenv(conformance.ENV, str(target))
    parse_client_message({**USER_TEXT, "surprise": 1}, "ga")
    encode_server_event(ev.SpeechStarted(item_id="item_1"), "ga", "call")
    encode_server_event(ev.InputCleared(), "ga", "call")
    (found,) = conformance.read(target)
    assert (found.direction, found.type, found.path) == ("client", USER_TEXT["type"], "surprise")
    assert "client conversation.item.create (ga) at surprise" in str(found)


def test_nothing_is_checked_or_written_when_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(conformance.ENV, raising=False)
    parse_client_message({**USER_TEXT, "surprise": 1}, "ga")
    assert conformance.read(tmp_path / "none.jsonl") == []


def test_openai_is_imported_only_when_checking_is_on() -> None:
    code = (
        "import sys\n"
        "from vivavoce.peer.wire import encode_server_event, parse_client_message\n"
        "from vivavoce.realtime import events as ev\n"
        "parse_client_message({'type': 'response.create'})\n"
        "encode_server_event(ev.InputCleared(), 'ga', 'call')\n"
        "print('openai' in sys.modules)\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != conformance.ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "False"


def test_beta_function_call_arguments_done_has_no_name() -> None:
    done = ev.FunctionArgumentsDone(
        response_id="r", item_id="i", call_id="c", name="replace_selection", arguments="{}"
    )
    beta = encode_server_event(done, "beta", "call")
    ga = encode_server_event(done, "ga", "call")
    assert beta is not None and ga is not None
    assert "name" not in json.loads(beta) and json.loads(ga)["name"] == "replace_selection"
    assert _problems(json.loads(beta), dialect="beta") == [] and _problems(json.loads(ga)) == []
