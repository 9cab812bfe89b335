"""A streamed reply cut into what is spoken at once: sentences, the first one at its first clause.

:class:`~.responses.Responses` speaks a reply sentence by sentence as its text streams in, and a
reply written ahead (:mod:`.speculation`) speaks its first one the same way.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterator

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
#: Where the first sentence of a reply may be cut early (after this many words at least).
_FIRST_CLAUSE_END = re.compile(r"(?<=[,:])\s+")
FIRST_CLAUSE_WORDS = 2


async def sentences(chunks: AsyncIterator[str]) -> AsyncGenerator[str, None]:
    """Regroup streamed text into whole sentences (the rest at the end); the first one is cut
    at its first clause ("You said:", "Well,") so that speech can start on fewer words."""
    buffer, first = "", True
    async for chunk in chunks:
        buffer += chunk
        if first:
            head, *rest = _FIRST_CLAUSE_END.split(buffer, maxsplit=1)
            if rest and len(head.split()) >= FIRST_CLAUSE_WORDS:
                first, buffer = False, rest[0]
                yield head.strip()
        *done, buffer = _SENTENCE_END.split(buffer)
        for sentence in done:
            if sentence.strip():
                first = False
                yield sentence.strip()
    if buffer.strip():
        yield buffer.strip()
