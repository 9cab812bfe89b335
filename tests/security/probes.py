"""What someone else on this machine tries against a local peer: every route, a guessed key.

Shared by the tests of the embedded peer (the real ``vivavoce lsp``, Chromium, the peer process).
"""

from __future__ import annotations

from typing import Any

import httpx
import psutil

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"

#: (method, path under /v1, what httpx sends): every route the peer serves, the admin one too.
ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/models", {}),
    ("POST", "/realtime/client_secrets", {"json": {"session": {"type": "realtime"}}}),
    ("POST", "/realtime/calls", {"content": SDP, "headers": {"Content-Type": "application/sdp"}}),
    ("POST", "/realtime/calls/rtc_guess/hangup", {}),
    ("POST", "/realtime/sessions", {"json": {}}),
    (
        "POST",
        "/realtime?model=gpt-realtime",
        {"content": SDP, "headers": {"Content-Type": "application/sdp"}},
    ),
    ("GET", "/realtime?model=gpt-realtime", {}),  # the WebSocket route, before the upgrade
    ("POST", "/chat/completions", {"json": {"model": "gpt-4o-mini", "messages": []}}),
    ("POST", "/audio/speech", {"json": {"model": "tts-1", "input": "hi", "voice": "alloy"}}),
    ("POST", "/audio/transcriptions", {"files": {"file": ("a.wav", b"RIFF", "audio/wav")}}),
    ("GET", "/_admin/faults", {}),
    ("POST", "/_admin/faults", {"json": {"faults": ["key-500"]}}),
]

#: Keys someone might guess: what vivavoce sent the local peer before it had a key, and others.
GUESSES = ["local", "sk-local", "x"]

#: A page on another site, as a browser would name it.
FOREIGN = {"Origin": "https://evil.example"}


async def try_every_route(base_url: str, **headers: str) -> dict[str, int]:
    """``"METHOD /path bearer" → status`` for every route and guessed key, with ``headers``."""
    seen: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for method, path, send in ROUTES:
            for guess in [None, *GUESSES]:
                extra = dict(send.get("headers", {})) | headers
                if guess is not None:
                    extra["Authorization"] = f"Bearer {guess}"
                body = {k: v for k, v in send.items() if k != "headers"}
                response = await http.request(method, base_url + path, headers=extra, **body)
                seen[f"{method} {path} {guess}"] = response.status_code
    return seen


def listening_ports(pid: int) -> list[int]:
    """TCP ports on 127.0.0.1 that process ``pid`` (or a child of it) listens on."""
    root = psutil.Process(pid)
    ports = {
        conn.laddr.port
        for proc in [root, *root.children(recursive=True)]
        for conn in proc.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.ip == "127.0.0.1"
    }
    return sorted(ports)
