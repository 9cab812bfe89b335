"""The order the real API sends things in, and what the user must see anyway.

The real API creates the response at commit; the user's transcription completes when it
completes, often after the assistant's transcript is done. A scripted server plays exactly that
sequence over a real WebRTC call; the conversation must keep the question before the answer:
in its turns, its history, the finals the editor receives, and what a new call is given.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.integration.scripted_server import Script, ScriptedServer
from vivavoce.conversation import Conversation
from vivavoce.realtime import TranscriptUpdate
from vivavoce.settings import Settings


def _event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "event_id": f"event_{kind}", **fields})


def _late_transcription() -> list[str]:
    """One spoken turn as the real API orders it: the reply is done before the question."""
    user = {"id": "item_u1", "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}]}  # fmt: skip
    reply = {"id": "item_a1", "type": "message", "role": "assistant", "status": "completed",
             "content": [{"type": "output_audio", "transcript": "It is noon."}]}  # fmt: skip
    response = {
        "id": "resp_1",
        "object": "realtime.response",
        "status": "in_progress",
        "output": [],
    }
    done = {**response, "status": "completed", "output": [reply]}
    return [
        _event("input_audio_buffer.committed", item_id="item_u1", previous_item_id=None),
        _event("conversation.item.added", item=user, previous_item_id=None),
        _event("response.created", response=response),
        _event(
            "conversation.item.added",
            item={**reply, "status": "in_progress", "content": []},
            previous_item_id="item_u1",
        ),
        _event(
            "response.output_audio_transcript.delta",
            response_id="resp_1",
            item_id="item_a1",
            output_index=0,
            content_index=0,
            delta="It is noon.",
        ),
        _event(
            "response.output_audio_transcript.done",
            response_id="resp_1",
            item_id="item_a1",
            output_index=0,
            content_index=0,
            transcript="It is noon.",
        ),
        _event("response.done", response=done),
        _event(
            "conversation.item.input_audio_transcription.completed",
            item_id="item_u1",
            content_index=0,
            transcript="what time is it",
        ),
    ]


async def test_the_question_comes_before_the_answer_however_late_its_transcription() -> None:
    server = await ScriptedServer(Script(after_open=_late_transcription(), start_after=0.5)).start()
    finals: list[TranscriptUpdate] = []
    conv = Conversation(
        Settings(peer=server.base_url),
        on_transcript=lambda u: finals.append(u) if u.final else None,
    )
    try:
        await conv.start()
        async with asyncio.timeout(10):
            while len(conv.turns) < 2:
                await asyncio.sleep(0.05)
        assert [(t.role, t.text) for t in conv.turns] == [
            ("user", "what time is it"),
            ("assistant", "It is noon."),
        ]
        assert [u.item_id for u in finals] == ["item_u1", "item_a1"]  # the editor's order too
        assert finals[1].previous_item_id == "item_u1"
        # A new call is given the question first.
        await conv.realtime.close(keep_state=True)
        server.received.clear()
        await conv.realtime.open()

        def replayed() -> list[Any]:
            return [m["item"] for m in server.received if m["type"] == "conversation.item.create"]

        async with asyncio.timeout(10):
            while len(replayed()) < 2:
                await asyncio.sleep(0.05)
        assert [(i["role"], i["content"][0]["text"]) for i in replayed()] == [
            ("user", "what time is it"),
            ("assistant", "It is noon."),
        ]
    finally:
        await conv.close()
        await server.close()
