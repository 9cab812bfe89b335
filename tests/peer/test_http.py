"""The peer's HTTP routes: auth, error bodies, CORS, client secrets, uploads, the CLI."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from vivavoce.peer import auth as peer_auth

from .conftest import KEY, flite_pcm

AUTH = {"Authorization": f"Bearer {KEY}"}


async def _post(url: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(url, **kwargs) as resp:
            text = await resp.text()
            try:
                body: Any = json.loads(text)
            except ValueError:
                body = text
            return resp.status, resp.headers, body


async def test_missing_and_wrong_keys_get_openai_shaped_401(peer) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        status, hdrs, body = await _post(
            f"{peer.base_url}/realtime/client_secrets", json={}, headers=headers
        )
        assert status == 401
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert body["error"]["type"] == "invalid_request_error"
        assert hdrs["Access-Control-Allow-Origin"]
        assert "nope" not in body["error"]["message"]
    status, _, body = await _post(
        f"{peer.base_url}/realtime/client_secrets",
        json={},
        headers={"Authorization": "Bearer nope"},
    )
    assert body["error"]["code"] == "invalid_api_key"


async def test_client_secret_shape_and_ephemeral_key_use(peer, monkeypatch) -> None:
    status, _, body = await _post(
        f"{peer.base_url}/realtime/client_secrets",
        json={
            "expires_after": {"anchor": "created_at", "seconds": 120},
            "session": {
                "type": "realtime",
                "model": "gpt-realtime",
                "instructions": "hi",
                "audio": {"output": {"voice": "marin"}},
            },
        },
        headers=AUTH,
    )
    assert status == 200
    assert body["value"].startswith("ek_")
    assert abs(body["expires_at"] - (time.time() + 120)) < 5
    session = body["session"]
    assert session["id"].startswith("sess_") and session["object"] == "realtime.session"
    assert session["type"] == "realtime" and session["instructions"] == "hi"
    assert session["audio"]["output"]["voice"] == "marin"
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    ek = {"Authorization": f"Bearer {body['value']}"}
    # An ephemeral key is for calls only.
    status, _, err = await _post(f"{peer.base_url}/realtime/client_secrets", json={}, headers=ek)
    assert status == 401
    # A bad offer with a good ephemeral key reaches the SDP check (auth passed).
    status, _, err = await _post(
        f"{peer.base_url}/realtime/calls",
        data="hello",
        headers={**ek, "Content-Type": "application/sdp"},
    )
    assert status == 400 and err["error"]["code"] == "invalid_offer"
    # After expiry it is refused.
    real_time = time.time
    monkeypatch.setattr(peer_auth.time, "time", lambda: real_time() + 121)
    status, _, err = await _post(
        f"{peer.base_url}/realtime/calls",
        data="v=0\r\nm=audio",
        headers={**ek, "Content-Type": "application/sdp"},
    )
    assert status == 401 and err["error"]["code"] == "invalid_api_key"
    assert "expired" in err["error"]["message"]


async def test_open_peer_accepts_any_key_but_expired_ephemeral_ones(open_peer, monkeypatch):
    status, _, body = await _post(
        f"{open_peer.base_url}/realtime/sessions",
        json={"model": "gpt-4o-realtime-preview", "voice": "ash"},
        headers={"Authorization": "Bearer whatever"},
    )
    assert status == 200
    assert body["client_secret"]["value"].startswith("ek_")
    assert 50 <= body["client_secret"]["expires_at"] - time.time() <= 61
    assert body["voice"] == "ash" and body["object"] == "realtime.session"
    status, _, _ = await _post(f"{open_peer.base_url}/realtime/client_secrets", json={})
    assert status == 401  # a bearer is still required
    real_time = time.time
    monkeypatch.setattr(peer_auth.time, "time", lambda: real_time() + 61)
    ek = body["client_secret"]["value"]
    status, _, _ = await _post(
        f"{open_peer.base_url}/realtime?model=x",
        data="v=0\r\nm=audio",
        headers={"Authorization": f"Bearer {ek}", "Content-Type": "application/sdp"},
    )
    assert status == 401


async def test_cors_preflight_and_headers_on_errors(peer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.options(
            f"{peer.base_url}/realtime/calls",
            headers={
                "Origin": "http://example.test",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-openai-agents-sdk",
            },
        ) as resp:
            assert 200 <= resp.status < 300
            assert resp.headers["Access-Control-Allow-Origin"] == "http://example.test"
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            allowed = resp.headers["Access-Control-Allow-Headers"].lower()
            for h in ("authorization", "content-type", "x-openai-agents-sdk"):
                assert h in allowed
            assert "Location" in resp.headers["Access-Control-Expose-Headers"]
    status, hdrs, _ = await _post(
        f"{peer.base_url}/realtime/calls", data="x", headers={"Origin": "http://example.test"}
    )
    assert status == 401
    assert hdrs["Access-Control-Allow-Origin"] == "http://example.test"
    assert "Location" in hdrs["Access-Control-Expose-Headers"]


async def test_only_a_real_preflight_gets_a_2xx_without_a_key(peer) -> None:
    """A page's own OPTIONS request (no Access-Control-Request-Method) is not a preflight."""
    async with aiohttp.ClientSession() as http:
        async with http.options(
            f"{peer.base_url}/models", headers={"Origin": "http://example.test"}
        ) as resp:
            assert resp.status == 405
            assert resp.headers["Access-Control-Allow-Origin"] == "http://example.test"


async def test_requests_must_name_the_peer_in_their_host_header(peer) -> None:
    port = peer.base_url.split(":")[-1].split("/")[0]
    async with aiohttp.ClientSession() as http:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "[::1]"):
            async with http.get(f"{peer.base_url}/models", headers={**AUTH, "Host": host}) as r:
                assert r.status == 200, host
        for host in (f"evil.example:{port}", "127.0.0.1.evil.example", "a@127.0.0.1"):
            async with http.get(f"{peer.base_url}/models", headers={**AUTH, "Host": host}) as r:
                assert r.status == 421, host
                assert (await r.json())["error"]["code"] == "misdirected_request"


async def test_the_fault_route_exists_only_when_asked_for(peer) -> None:
    from vivavoce.peer import start_peer
    from vivavoce.peer.cli import add_arguments

    status, _, body = await _post(f"{peer.base_url}/_admin/faults", json={}, headers=AUTH)
    assert status == 404 and body["error"]["code"] == "not_found"
    async with await start_peer(api_key=KEY, fault_admin=True) as admin:
        status, _, body = await _post(
            f"{admin.base_url}/_admin/faults", json={"faults": ["key-500"]}, headers=AUTH
        )
        assert status == 200 and body["faults"] == ["key-500"]
        status, _, _ = await _post(f"{admin.base_url}/_admin/faults", json={}, headers={})
        assert status == 401
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["--faults"]).fault_admin
    assert not parser.parse_args(["--fault", "key-500"]).fault_admin


async def test_bad_requests_have_openai_error_bodies(peer) -> None:
    status, _, body = await _post(f"{peer.base_url}/no/such/route", headers=AUTH)
    assert status == 404 and body["error"]["type"] == "invalid_request_error"
    status, _, body = await _post(
        f"{peer.base_url}/realtime/calls/rtc_missing/hangup", headers=AUTH
    )
    assert status == 404 and body["error"]["code"] == "call_not_found"
    status, _, body = await _post(
        f"{peer.base_url}/realtime/calls",
        data="{}",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert status == 400 and body["error"]["code"] == "unsupported_content_type"
    status, _, body = await _post(
        f"{peer.base_url}/realtime/client_secrets",
        data="{oops",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert status == 400 and body["error"]["code"] == "invalid_json"
    status, _, body = await _post(
        f"{peer.base_url}/realtime/client_secrets",
        json={"expires_after": {"seconds": 5}},
        headers=AUTH,
    )
    assert status == 400 and body["error"]["param"] == "expires_after.seconds"
    status, _, body = await _post(
        f"{peer.base_url}/chat/completions", json={"model": "m", "messages": []}, headers=AUTH
    )
    assert status == 400 and body["error"]["param"] == "messages"


async def test_oversized_upload_is_413(peer) -> None:
    form = aiohttp.FormData()
    form.add_field("model", "whisper-1")
    form.add_field(
        "file",
        io.BytesIO(b"\0" * (25 * 1024 * 1024 + 1)),
        filename="big.wav",
        content_type="audio/wav",
    )
    status, hdrs, body = await _post(
        f"{peer.base_url}/audio/transcriptions", data=form, headers=AUTH
    )
    assert status == 413
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert hdrs["Access-Control-Allow-Origin"]


async def test_chat_completion_stream_is_sse(peer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{peer.base_url}/chat/completions",
            headers=AUTH,
            json={
                "model": "gpt-4o-mini",
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": "open the file"}],
            },
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            raw = (await resp.read()).decode()
    frames = [f for f in raw.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames)
    assert frames[-1] == "data: [DONE]"
    chunks = [json.loads(f[6:]) for f in frames[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "You said: open the file. That is the first thing you said."
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_cli_prints_the_listening_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "vivavoce", "peer", "--port", "0", "--api-key", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:") and line.endswith("/v1"), line
        import urllib.request

        req = urllib.request.Request(
            line.split(" ", 2)[2] + "/models", headers={"Authorization": "Bearer k"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.load(resp)["object"] == "list"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == ""  # nothing else on stdout
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()


async def test_responder_url_forwards_to_another_peer(peer) -> None:
    from vivavoce.peer import start_peer

    # A peer whose replies come from the first peer's chat completions route.
    relay = await start_peer(responder_url=peer.base_url, responder_api_key=KEY)
    try:
        status, _, body = await _post(
            f"{relay.base_url}/chat/completions",
            headers={"Authorization": "Bearer x"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello relay"}]},
        )
        assert status == 200
        assert body["choices"][0]["message"]["content"].startswith("You said: hello relay.")
    finally:
        await relay.close()
    await relay.close()  # idempotent


async def test_transcription_route_hears_flite(peer) -> None:
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(flite_pcm("open the main file").tobytes())
    form = aiohttp.FormData()
    form.add_field("model", "whisper-1")
    form.add_field("response_format", "text")
    form.add_field("file", buf.getvalue(), filename="a.wav", content_type="audio/wav")
    status, _, body = await _post(f"{peer.base_url}/audio/transcriptions", data=form, headers=AUTH)
    assert status == 200
    assert "main file" in body


async def test_speech_of_text_with_a_nul_character_is_spoken_not_a_500(peer) -> None:
    # Found by fuzzing: the text reached flite's argv, and exec refuses an embedded NUL.
    import httpx

    from tests.peer.conftest import KEY

    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{peer.base_url}/audio/speech",
            headers={"Authorization": f"Bearer {KEY}"},
            json={"model": "gpt-4o-mini-tts", "input": "hello\u0000world", "voice": "alloy"},
        )
    assert response.status_code == 200, response.text
    assert len(response.content) > 1000  # speech came back
