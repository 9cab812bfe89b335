"""Background tasks with one owner each, and ``close()`` that runs once.

Every component that runs work in the background (a call, the conversation, the peer's
session, the WebSocket transport) holds one :class:`TaskSet`: it starts named tasks, logs any
that fail, and cancels them all, with a time limit, when the owner closes. Nothing else in the
tree calls ``loop.create_task`` for work that outlives a request.

:class:`CloseOnce` makes ``close()`` idempotent the way aiortc's ``RTCPeerConnection.close``
is: the first caller runs the cleanup; a second caller, even a concurrent one, waits until that
cleanup has finished instead of returning early.

    class Thing:
        def __init__(self) -> None:
            self._tasks = TaskSet("vivavoce thing")
            self._closing = CloseOnce()

        async def close(self) -> None:
            await self._closing.run(self._close)

        async def _close(self) -> None:
            await self._tasks.cancel_all()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long :meth:`TaskSet.cancel_all` waits for cancelled tasks to finish their cleanup.
CANCEL_TIMEOUT = 2.0


class TaskSet:
    """The running background tasks of one owner, named ``"<owner>: <name>"``."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run ``coro`` in the background until it ends or :meth:`cancel_all`."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.owner}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("task %r failed", task.get_name(), exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self) -> None:
        """Wait for the running tasks (other than the caller) to end by themselves."""
        tasks = self._others()
        if tasks:
            await asyncio.wait(tasks)

    async def cancel_all(self, timeout: float = CANCEL_TIMEOUT) -> None:  # noqa: ASYNC109
        """Cancel every task but the caller's own, and wait up to ``timeout`` for them to end.

        A task still running after that is logged (its cleanup is stuck) and left behind.
        (``timeout`` bounds the wait for cleanups, not the caller's work: hence the noqa.)
        """
        tasks = self._others()
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            log.warning(
                "task %r did not end within %.1f s of being cancelled", task.get_name(), timeout
            )

    def _others(self) -> list[asyncio.Task[Any]]:
        current = asyncio.current_task()
        return [t for t in self._tasks if t is not current]


class CloseOnce:
    """Runs a cleanup once; later callers wait for it to finish (see the module docstring)."""

    def __init__(self) -> None:
        self._done: asyncio.Future[None] | None = None

    @property
    def started(self) -> bool:
        """True once a close began (it may still be running)."""
        return self._done is not None

    @property
    def finished(self) -> bool:
        return self._done is not None and self._done.done()

    async def run(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        if self._done is not None:
            # shield: a second caller being cancelled must not cancel the first one's wait.
            await asyncio.shield(self._done)
            return
        self._done = asyncio.get_running_loop().create_future()
        try:
            await cleanup()
        finally:
            self._done.set_result(None)
