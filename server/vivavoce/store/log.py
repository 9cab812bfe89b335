"""The writer of one conversation's history file.

:class:`ConversationLog` owns the file descriptor and one writer task. Records are queued on
the event loop (never blocking it) and written by that single task, in order, each batch with
one ``write`` and one ``fsync`` in a worker thread (``asyncio.to_thread``). The future that
:meth:`ConversationLog.append` returns resolves once the record is on disk: after that, a
``kill -9`` cannot lose it. The file is created with the first record, so a conversation with
no turns leaves no file.

A failed write (disk full, read-only folder…) truncates the partial line away, keeps the
records in memory, reports one :class:`HistoryError` through ``on_error`` (once per outage),
and is retried with the next record; nothing that was ever appended is dropped while the
process lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from ..errors import HistoryError
from .paths import FILE_MODE, ensure_private_dir, file_of, new_conversation_id
from .records import Header, TurnRecord, _Record

log = logging.getLogger(__name__)

#: How long close() waits for queued records to reach the disk.
CLOSE_TIMEOUT = 5.0

_Entry = tuple[bytes, "asyncio.Future[None]"]


class FinalTurnLike(Protocol):
    """What a final turn offers (a ``TranscriptUpdate`` or a ``FinalTurn`` plus a link)."""

    @property
    def item_id(self) -> str: ...
    @property
    def role(self) -> Literal["user", "assistant", "tool"]: ...
    @property
    def text(self) -> str: ...
    @property
    def interrupted(self) -> bool: ...


class ConversationLog:
    """Appends the final turns of one conversation to ``<folder>/<id>.jsonl``."""

    def __init__(
        self,
        folder: Path,
        *,
        conversation_id: str | None = None,
        on_error: Callable[[HistoryError], None] | None = None,
    ) -> None:
        self.folder = folder
        self.id = conversation_id or new_conversation_id()
        self.path = file_of(folder, self.id)
        self.header = Header(id=self.id)
        #: The last write failure while it lasts (None once a write succeeds again).
        self.error: HistoryError | None = None
        self._on_error = on_error
        self._queue: asyncio.Queue[_Entry] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._backlog: list[_Entry] = []
        self._seen: set[str] = set()
        self._fd: int | None = None
        self._size = 0
        self._io = threading.Lock()  # a cancelled write may still run in its thread
        self._closed = False

    # ------------------------------------------------------------------ appending

    def turn(
        self,
        turn: FinalTurnLike,
        *,
        previous_item_id: str | None = None,
        mode: Literal["realtime", "text", "dictation"] | None = None,
        voice: str | None = None,
        model: str | None = None,
    ) -> asyncio.Future[None]:
        """Append a final turn; a second one with the same item id is an update record."""
        previous = previous_item_id or getattr(turn, "previous_item_id", None)
        record = TurnRecord(
            item_id=turn.item_id,
            previous_item_id=previous,
            role=turn.role,
            text=turn.text,
            mode=mode,
            voice=voice,
            model=model,
            interrupted=turn.interrupted,
            update=turn.item_id in self._seen,
        )
        self._seen.add(turn.item_id)
        return self.append(record)

    def append(self, record: _Record) -> asyncio.Future[None]:
        """Queue one record; the future resolves when it is fsynced (or fails with HistoryError).

        Must be called on the event loop; never blocks. Nobody has to await the future.
        """
        if self._closed:
            raise HistoryError("the history of this conversation is already closed")
        return self._enqueue(record.line())

    async def ensure_file(self) -> Path:
        """Create the file now (header only) if it does not exist yet; return its path."""
        await self._enqueue(b"")
        return self.path

    async def flush(self) -> None:
        """Wait until everything queued so far was written; raise the error if it was not."""
        if self._queue is not None:
            await self._queue.join()
        if self._backlog and self.error is not None:
            raise self.error

    @property
    def unwritten(self) -> int:
        """Records that failed to reach the disk and wait for the next attempt."""
        return len(self._backlog)

    def _enqueue(self, line: bytes) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._writer = loop.create_task(self._run(), name=f"vivavoce history {self.id}")
        future: asyncio.Future[None] = loop.create_future()
        # Callers may drop the future: mark its exception as seen so asyncio does not complain.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.put_nowait((line, future))
        return future

    # ------------------------------------------------------------------ the writer

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while not queue.empty():  # group commit: one fsync for everything queued
                batch.append(queue.get_nowait())
            pending = self._backlog + batch
            try:
                await asyncio.to_thread(self._write, b"".join(line for line, _ in pending))
            except OSError as exc:
                self._failed(exc, pending, batch)
            else:
                if self.error is not None:
                    log.info("the history is written again (%s)", self.path)
                self.error, self._backlog = None, []
                for _, future in pending:
                    if not future.done():
                        future.set_result(None)
            finally:
                for _ in batch:
                    queue.task_done()

    def _failed(self, exc: OSError, pending: list[_Entry], batch: list[_Entry]) -> None:
        reason = exc.strerror or type(exc).__name__
        error = HistoryError(
            f"cannot save the conversation history in {self.folder}: {reason}; "
            "the turns are kept in memory"
        )
        first = self.error is None
        self.error, self._backlog = error, [e for e in pending if e[0]]
        for _, future in batch:
            if not future.done():
                future.set_exception(error)
        if first:
            log.warning("%s", error)
            if self._on_error is not None:
                try:
                    self._on_error(error)
                except Exception:
                    log.exception("the history error callback failed")

    def _write(self, data: bytes) -> None:
        """Append ``data`` (whole lines) and fsync. Runs in a worker thread, one at a time."""
        with self._io:
            self._write_locked(data)

    def _write_locked(self, data: bytes) -> None:
        if self._closed and self._fd is None:
            raise OSError(0, "the history file is closed")
        if self._fd is None:
            self._fd = self._open()
        fd = self._fd
        if self._size == 0:
            data = self.header.line() + data
        elif not data:
            return
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError:
            # Drop a partial line, so the next attempt appends whole lines only.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)
            raise
        self._size += len(data)

    def _open(self) -> int:
        ensure_private_dir(self.folder)
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                # Reopened after a crash mid-line: end that line so ours stay readable.
                os.write(fd, b"\n")
                size += 1
            dir_fd = os.open(self.folder, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(dir_fd)  # the new name survives a power cut too
            finally:
                os.close(dir_fd)
        except OSError:
            os.close(fd)
            raise
        self._size = size
        return fd

    # ------------------------------------------------------------------ closing

    async def close(self) -> None:
        """Write what is queued (bounded by CLOSE_TIMEOUT), stop the writer, close the file.

        Idempotent. Records that could not be written stay in ``unwritten`` for the caller.
        """
        if self._closed:
            return
        self._closed = True
        if self._queue is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), CLOSE_TIMEOUT)
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await asyncio.to_thread(self._close_fd)

    def _close_fd(self) -> None:
        with self._io:
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
