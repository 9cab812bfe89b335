"""The one task owner (:mod:`vivavoce.tasks`) and idempotent close."""

from __future__ import annotations

import asyncio
import logging

import pytest

from vivavoce.tasks import CloseOnce, TaskSet


async def test_spawned_tasks_are_named_after_their_owner_and_cancelled_together() -> None:
    tasks = TaskSet("vivavoce call")
    started = asyncio.Event()
    cleaned: list[str] = []

    async def forever(name: str) -> None:
        try:
            started.set()
            await asyncio.Event().wait()
        finally:
            cleaned.append(name)

    a = tasks.spawn(forever("a"), "drain")
    tasks.spawn(forever("b"), "watch")
    await started.wait()
    assert a.get_name() == "vivavoce call: drain"
    assert len(tasks) == 2
    await tasks.cancel_all()
    assert sorted(cleaned) == ["a", "b"]
    assert len(tasks) == 0


async def test_a_failed_task_is_logged_with_its_name(caplog: pytest.LogCaptureFixture) -> None:
    tasks = TaskSet("vivavoce peer")

    async def broken() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="vivavoce.tasks"):
        task = tasks.spawn(broken(), "respond")
        await asyncio.wait([task])
        await asyncio.sleep(0)
    assert "vivavoce peer: respond" in caplog.text
    assert "boom" in caplog.text


async def test_cancel_all_from_inside_a_task_spares_the_caller() -> None:
    tasks = TaskSet("owner")
    other = tasks.spawn(asyncio.sleep(60), "sleeper")

    async def closer() -> str:
        await tasks.cancel_all()
        return "finished"

    result = await tasks.spawn(closer(), "closer")
    assert result == "finished"
    assert other.cancelled()


async def test_a_task_stuck_in_cleanup_is_left_after_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = TaskSet("owner")
    release = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await release.wait()

    task = tasks.spawn(stubborn(), "stubborn")
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="vivavoce.tasks"):
        await tasks.cancel_all(timeout=0.05)
    assert "did not end" in caplog.text
    release.set()
    await asyncio.wait([task])


async def test_a_second_concurrent_close_waits_for_the_first_to_finish() -> None:
    closing = CloseOnce()
    runs: list[str] = []
    gate = asyncio.Event()

    async def cleanup() -> None:
        runs.append("start")
        await gate.wait()
        runs.append("done")

    first = asyncio.ensure_future(closing.run(cleanup))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(closing.run(cleanup))
    await asyncio.sleep(0.01)
    assert not second.done()  # it does not return before the cleanup is over
    gate.set()
    await asyncio.gather(first, second)
    assert runs == ["start", "done"]
    assert closing.finished
    await closing.run(cleanup)  # and later calls return at once
    assert runs == ["start", "done"]
