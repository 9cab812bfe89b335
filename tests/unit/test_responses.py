"""One response at a time (realtime.responses.ResponseQueue), as the real API demands."""

from __future__ import annotations

from vivavoce.realtime import events as ev
from vivavoce.realtime.responses import ALREADY_ACTIVE, ResponseQueue


def queue() -> tuple[ResponseQueue, list[ev.ResponseCreate]]:
    sent: list[ev.ResponseCreate] = []

    async def send(event: ev.ResponseCreate) -> None:
        sent.append(event)

    return ResponseQueue(send), sent


def created(rid: str) -> ev.ResponseCreated:
    return ev.ResponseCreated(response=ev.Response(id=rid, status="in_progress"))


def done(rid: str) -> ev.ResponseDone:
    return ev.ResponseDone(response=ev.Response(id=rid, status="completed"))


async def test_a_reply_asked_for_while_one_runs_is_sent_when_it_is_done() -> None:
    q, sent = queue()
    await q.request()
    assert len(sent) == 1 and sent[0].event_id
    await q.observe(created("resp_1"))
    await q.request()  # e.g. a typed message while the assistant speaks
    await q.request()  # and a tool result: one reply answers both
    assert len(sent) == 1
    await q.observe(done("resp_1"))
    assert len(sent) == 2
    await q.observe(created("resp_2"))
    await q.observe(done("resp_2"))
    assert len(sent) == 2 and not q.busy


async def test_a_refusal_racing_a_server_started_reply_is_retried_not_shown() -> None:
    q, sent = queue()
    await q.request()
    await q.observe(created("resp_vad"))  # the server started one on its own (voice activity)
    refusal = ev.ErrorEvent(
        error=ev.ErrorDetail(code=ALREADY_ACTIVE, message="already active", event_id="x")
    )
    assert await q.observe(refusal) is True  # handled here: not for the user
    await q.observe(done("resp_vad"))
    assert len(sent) == 2


async def test_an_interrupt_drops_the_reply_that_was_waiting() -> None:
    q, sent = queue()
    await q.request()
    await q.observe(created("resp_1"))
    await q.request()
    q.drop_waiting()
    await q.observe(ev.ResponseDone(response=ev.Response(id="resp_1", status="cancelled")))
    assert len(sent) == 1 and not q.busy


async def test_another_refusal_of_our_request_frees_the_queue_and_is_left_for_the_user() -> None:
    q, sent = queue()
    await q.request()
    other = ev.ErrorEvent(
        error=ev.ErrorDetail(code="invalid_value", message="bad", event_id=sent[0].event_id)
    )
    assert await q.observe(other) is False
    assert not q.busy
    await q.request()
    assert len(sent) == 2
