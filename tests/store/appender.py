"""A process that appends turns forever and prints ``ack N`` once turn N is on disk.

Run as ``python -m tests.store.appender FOLDER ID``; the test kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from vivavoce.realtime.transcript import TranscriptUpdate
from vivavoce.store import ConversationLog


async def main(folder: Path, conversation_id: str) -> None:
    history = ConversationLog(folder, conversation_id=conversation_id)
    previous = None
    n = 0
    while True:
        n += 1
        role = "user" if n % 2 else "assistant"
        turn = TranscriptUpdate(f"item_{n}", previous, role, f"turn {n} " + "words " * (n % 7))
        future = history.turn(turn, mode="realtime", voice="alloy", model="gpt-realtime")
        if n % 3 == 0:  # several in flight at once, as when both sides finish together
            await future
            sys.stdout.write(f"ack {n}\n")
            sys.stdout.flush()
        else:
            future.add_done_callback(lambda f, n=n: print(f"ack {n}", flush=True))
        previous = turn.item_id
        await asyncio.sleep(0)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
