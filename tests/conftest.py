"""Fixtures that start real things (the local peer, flite speech) and check for leaks."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest

from vivavoce.settings import Settings

if TYPE_CHECKING:
    from vivavoce.conversation import Conversation, Status
    from vivavoce.realtime import Call

Pcm = npt.NDArray[np.int16]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Tests never talk to api.openai.com, whatever the developer's shell exports, and keep
    # their history out of the user's own (server processes inherit this environment).
    for name in ("OPENAI_API_KEY", "VIVAVOCE_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIVAVOCE_HISTORY_DIR", str(tmp_path_factory.mktemp("history")))
    # Servers started by tests use no sound card (tests/audio opens the virtual ones itself).
    monkeypatch.setenv("VIVAVOCE_AUDIO_DEVICES", "false")


#: Folders whose tests check every event on the wire against the openai SDK's types.
CONFORMANCE_FOLDERS = {"integration", "e2e"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "wire_conformance: check every peer event against the SDK's types"
    )
    config.addinivalue_line(
        "markers", "wire_nonconformant(reason): the test sends non-conforming events on purpose"
    )


@pytest.fixture(autouse=True)
def _wire_conformance(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[None]:
    # Every client event a peer receives and every server event it sends (in this process or a
    # child, which inherits the variable) is validated against the openai SDK's types, unknown
    # keys forbidden; the test fails at teardown naming the first violation.
    from vivavoce.peer import conformance

    folder = request.node.path.parent.name
    wanted = folder in CONFORMANCE_FOLDERS or request.node.get_closest_marker("wire_conformance")
    if not wanted or request.node.get_closest_marker("wire_nonconformant"):
        monkeypatch.delenv(conformance.ENV, raising=False)
        yield
        return
    target = tmp_path_factory.mktemp("wire") / "violations.jsonl"
    monkeypatch.setenv(conformance.ENV, str(target))
    yield
    found = conformance.read(target)
    if found:
        pytest.fail(
            f"{len(found)} event(s) on the wire differ from the openai SDK's types; "
            f"the first: {found[0]} (all in {target})",
            pytrace=False,
        )


@pytest.fixture
async def peer() -> AsyncIterator[object]:
    """The local peer on 127.0.0.1, any port, accepting any key."""
    from vivavoce.peer import start_peer

    running = await start_peer(host="127.0.0.1", port=0)
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
def settings() -> Settings:
    return Settings(api_key="sk-local-test", peer="openai", connect_timeout=10)


@pytest.fixture
def speak() -> Callable[[str], Awaitable[Pcm]]:
    """flite speech (16 kHz mono int16), the synthetic user's voice."""
    from vivavoce.peer.tts import Synthesizer

    synth = Synthesizer()

    async def say(text: str) -> Pcm:
        return await synth.synthesize(text, voice="rms")

    return say


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _threads() -> set[str]:
    # The loop's default executor ("asyncio_N") belongs to the loop and ends with it.
    return {t.name for t in threading.enumerate() if not t.name.startswith("asyncio_")}


@pytest.fixture
async def no_leaks() -> AsyncIterator[None]:
    """Fails the test when it leaves tasks, threads or file descriptors behind."""
    # The peer's speech recognition workers live as long as the test process (one pool per
    # process, shared by every peer): started before the snapshot, they are not a leak.
    from vivavoce.peer.stt import Recognizer

    await Recognizer().warm_up()
    fds, threads = _fds(), _threads()
    tasks = asyncio.all_tasks()
    yield
    for _ in range(50):  # decoder/encoder threads and sockets wind down shortly after close()
        gc.collect()
        current = asyncio.current_task()
        leaked_tasks = [t for t in asyncio.all_tasks() - tasks if not t.done() and t is not current]
        if not leaked_tasks and _threads() <= threads and _fds() <= fds:
            break
        await asyncio.sleep(0.1)
    assert not leaked_tasks, f"leaked tasks: {[t.get_name() for t in leaked_tasks]}"
    assert _threads() <= threads, f"leaked threads: {sorted(_threads() - threads)}"
    new = _fds() - fds
    assert not new, f"leaked file descriptors: {[_describe_fd(f) for f in new]}"


def _describe_fd(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return fd


def words(text: str) -> list[str]:
    cleaned = "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower())
    return cleaned.split()


def overlap(said: str, heard: str) -> float:
    """Share of the said words that were heard (order-free); pocketsphinx gets ~80 % right."""
    said_words, heard_words = words(said), set(words(heard))
    return sum(w in heard_words for w in said_words) / max(1, len(said_words))


def call_for(settings: Settings, base_url: str | None = None, **options: Any) -> Call:
    """A call as a conversation makes it from ``settings`` (session_for + CallOptions)."""
    from vivavoce.conversation import session_for
    from vivavoce.realtime import Call, CallOptions

    return Call(session_for(settings), CallOptions.from_settings(settings, base_url), **options)


def watched(
    settings: Settings, **options: Any
) -> tuple[Conversation, list[Status], list[tuple[str, str]]]:
    """A conversation whose statuses and one-line messages to the user are recorded."""
    from vivavoce.conversation import Conversation

    statuses: list[Status] = []
    messages: list[tuple[str, str]] = []
    conv = Conversation(
        settings,
        on_status=statuses.append,
        on_message=lambda *m: messages.append(m),
        **options,
    )
    return conv, statuses, messages
