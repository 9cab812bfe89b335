"""The history store on real files: durability, permissions, damaged lines, write errors."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vivavoce.errors import HistoryError, VivavoceError
from vivavoce.realtime.transcript import TranscriptUpdate
from vivavoce.store import (
    ConversationLog,
    find_conversation,
    list_conversations,
    read_conversation,
    to_markdown,
)
from vivavoce.store import cli as history_cli


def _turn(n: int, role: str = "user", prev: str | None = None, **kw: object) -> TranscriptUpdate:
    return TranscriptUpdate(f"item_{n}", prev, role, f"turn number {n}", final=True, **kw)  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_leaks")
async def test_every_final_turn_is_appended_with_its_context_and_read_back_in_order(
    tmp_path: Path,
) -> None:
    history = ConversationLog(tmp_path / "h", conversation_id="c1")
    assert not history.path.exists()  # no turn, no file
    history.turn(_turn(1), mode="realtime", voice="alloy", model="gpt-realtime")
    await history.turn(_turn(2, "assistant", "item_1"), mode="realtime", voice="alloy", model="m")
    await history.turn(_turn(3, "user", "item_2"), mode="text", voice="echo", model="gpt-4o-mini")
    await history.close()
    await history.close()  # idempotent

    conv = read_conversation(history.path)
    assert conv.warnings == []
    assert conv.header is not None and conv.header.id == "c1" and conv.header.v == 1
    assert [(t.item_id, t.role, t.text) for t in conv.turns] == [
        ("item_1", "user", "turn number 1"),
        ("item_2", "assistant", "turn number 2"),
        ("item_3", "user", "turn number 3"),
    ]
    second = conv.turns[1]
    assert (second.previous_item_id, second.mode, second.voice, second.model) == (
        "item_1",
        "realtime",
        "alloy",
        "m",
    )
    assert conv.turns[2].mode == "text" and conv.turns[2].time.endswith("Z")


@pytest.mark.usefixtures("no_leaks")
async def test_a_turn_finalized_again_is_an_update_and_readers_keep_the_last(
    tmp_path: Path,
) -> None:
    history = ConversationLog(tmp_path, conversation_id="c2")
    history.turn(_turn(1))
    history.turn(_turn(2, "assistant", "item_1"))
    await history.turn(_turn(2, "assistant", "item_1", interrupted=True))
    await history.close()
    lines = history.path.read_text().splitlines()
    assert len(lines) == 4 and '"update":true' in lines[3]
    conv = read_conversation(history.path)
    assert [(t.item_id, t.interrupted) for t in conv.turns] == [
        ("item_1", False),
        ("item_2", True),
    ]


@pytest.mark.usefixtures("no_leaks")
async def test_folder_is_0700_and_files_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        history = ConversationLog(tmp_path / "deep" / "history", conversation_id="c3")
        await history.turn(_turn(1))
        await history.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(history.folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(history.path.stat().st_mode) == 0o600


async def test_an_existing_folder_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "h"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    history = ConversationLog(folder, conversation_id="c4")
    await history.turn(_turn(1))
    await history.close()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


async def test_a_damaged_last_line_is_skipped_with_a_warning_and_the_rest_is_read(
    tmp_path: Path,
) -> None:
    history = ConversationLog(tmp_path, conversation_id="c5")
    history.turn(_turn(1))
    await history.turn(_turn(2, "assistant", "item_1"))
    await history.close()
    with history.path.open("ab") as f:
        f.write(b'{"type":"turn","itemId":"item_3","role":"us')  # cut mid-write
    conv = read_conversation(history.path)
    assert [t.item_id for t in conv.turns] == ["item_1", "item_2"]
    assert conv.warnings == ["c5.jsonl: line 4 is damaged (cut short by a crash?); skipped"]

    # Appending to that file again starts on a fresh line: nothing after the damage is lost.
    again = ConversationLog(tmp_path, conversation_id="c5")
    await again.turn(_turn(4, "user", "item_2"))
    await again.close()
    conv = read_conversation(history.path)
    assert [t.item_id for t in conv.turns] == ["item_1", "item_2", "item_4"]
    assert len(conv.warnings) == 1 and "not a valid record" in conv.warnings[0]


def test_kill_9_mid_call_loses_no_acknowledged_turn(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.store.appender", str(tmp_path), "killed"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    acked: set[int] = set()
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(acked) < 200 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acked.add(int(line.split()[1]))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= 200, f"only {len(acked)} turns acknowledged"
    conv = read_conversation(tmp_path / "killed.jsonl")
    saved = {int(t.item_id.split("_")[1]) for t in conv.turns}
    assert acked <= saved, f"lost acknowledged turns: {sorted(acked - saved)[:10]}"
    assert len(conv.warnings) <= 1  # at most the line the kill cut


@contextlib.contextmanager
def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A real tiny filesystem (root only): the disk that fills up, or is read-only."""
    where.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, f"vivavoce-{uuid.uuid4().hex[:6]}", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.usefixtures("no_leaks")
async def test_disk_full_is_one_clear_error_said_once_and_the_turns_are_kept(
    tmp_path: Path,
) -> None:
    with _tmpfs(tmp_path / "disk", "size=64k,mode=0700") as disk:
        filler = disk / "filler"
        errors: list[HistoryError] = []
        history = ConversationLog(disk / "history", conversation_id="full", on_error=errors.append)
        await history.turn(_turn(1))
        with contextlib.suppress(OSError):
            filler.write_bytes(b"x" * 256 * 1024)  # fills the disk
        big = "a long reply " * 160  # ~2 KiB: does not fit in what is left
        futures = [
            history.turn(TranscriptUpdate(f"item_{n}", None, "assistant", big, final=True))
            for n in range(2, 6)
        ]
        await asyncio.wait(futures)
        assert all(isinstance(f.exception(), HistoryError) for f in futures)
        history.turn(_turn(6))
        with pytest.raises(HistoryError) as info:
            await history.flush()
        message = str(info.value)
        assert message == (
            f"cannot save the conversation history in {disk / 'history'}: "
            "No space left on device; the turns are kept in memory"
        )
        assert isinstance(info.value, VivavoceError) and "\n" not in message
        assert len(errors) == 1  # said once, however many turns failed
        assert history.unwritten == 5
        # The damaged tail was truncated away: the file is whole lines only.
        assert read_conversation(history.path).warnings == []

        filler.unlink()  # space again: the backlog goes out with the next turn
        await history.turn(_turn(7))
        assert history.unwritten == 0 and history.error is None
        await history.close()
        conv = read_conversation(history.path)
        assert [t.item_id for t in conv.turns] == [f"item_{n}" for n in range(1, 8)]
        assert conv.warnings == []


@pytest.mark.usefixtures("no_leaks")
async def test_read_only_history_folder_is_one_clear_error(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "ro", "size=64k,ro") as disk:
        errors: list[HistoryError] = []
        history = ConversationLog(disk / "history", conversation_id="ro", on_error=errors.append)
        with pytest.raises(HistoryError, match="Read-only file system; the turns are kept"):
            await history.turn(_turn(1))
        history.turn(_turn(2))
        with pytest.raises(HistoryError):
            await history.flush()
        assert len(errors) == 1 and history.unwritten == 2
        await history.close()


async def test_appending_after_close_is_refused(tmp_path: Path) -> None:
    history = ConversationLog(tmp_path, conversation_id="closed")
    await history.close()
    with pytest.raises(HistoryError, match="already closed"):
        history.turn(_turn(1))


async def _two_conversations(folder: Path) -> list[ConversationLog]:
    logs = []
    for cid, first in (
        ("20260101T000000Z-aaaaaa", "hello there\nsecond line"),
        ("20260102T000000Z-bbbbbb", "what time is it"),
    ):
        history = ConversationLog(folder, conversation_id=cid)
        history.turn(TranscriptUpdate("i1", None, "assistant", "I speak first", final=True))
        history.turn(TranscriptUpdate("i2", "i1", "user", first, final=True))
        await history.turn(
            TranscriptUpdate("i3", "i2", "assistant", "an answer", final=True, interrupted=True)
        )
        await history.close()
        logs.append(history)
    return logs


async def test_list_show_and_export_markdown(tmp_path: Path) -> None:
    await _two_conversations(tmp_path)
    summaries = list_conversations(tmp_path)
    assert [(s.id, s.turns, s.first_user_line) for s in summaries] == [
        ("20260101T000000Z-aaaaaa", 3, "hello there"),
        ("20260102T000000Z-bbbbbb", 3, "what time is it"),
    ]
    assert find_conversation(tmp_path, "20260102").name == "20260102T000000Z-bbbbbb.jsonl"
    with pytest.raises(LookupError, match="matches 2 conversations"):
        find_conversation(tmp_path, "2026")
    with pytest.raises(LookupError, match="not a conversation id"):
        find_conversation(tmp_path, "../../etc/passwd")

    md = to_markdown(read_conversation(summaries[1].path))
    assert md.startswith("# Conversation 20260102T000000Z-bbbbbb\n")
    assert "**You**" in md and "what time is it" in md and "_(interrupted)_: an answer" in md

    out, err = io.StringIO(), io.StringIO()
    assert history_cli.run(["--dir", str(tmp_path), "list"], out, err) == 0
    assert out.getvalue().count("\n") == 2 and "3 turns  hello there" in out.getvalue()
    out = io.StringIO()
    assert history_cli.run(["--dir", str(tmp_path), "show", "20260101"], out, err) == 0
    assert "user: hello there\nsecond line" in out.getvalue()
    assert "assistant (interrupted): an answer" in out.getvalue()
    target = tmp_path / "export.md"
    args = ["--dir", str(tmp_path), "export", "--markdown", "20260102", "-o", str(target)]
    assert history_cli.run(args, out, err) == 0
    assert target.read_text() == md
    assert history_cli.run(["--dir", str(tmp_path), "show", "nope"], out, err) == 1
    assert err.getvalue() == f"vivavoce history: no conversation 'nope' in {tmp_path}\n"


def test_history_cli_runs_as_a_process_and_warns_about_damage_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "20260101T000000Z-cccccc.jsonl"
    path.write_text(
        '{"type":"conversation","v":1,"id":"20260101T000000Z-cccccc","started":"x"}\n'
        '{"type":"turn","itemId":"a","role":"user","text":"kept","time":"t"}\n'
        '{"type":"turn","itemId":"b","ro'
    )
    result = subprocess.run(
        [sys.executable, "-m", "vivavoce.store.cli", "--dir", str(tmp_path), "show", "2026"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout == "[t] user: kept\n"
    assert "line 3 is damaged (cut short by a crash?); skipped" in result.stderr
    assert "Traceback" not in result.stderr


def test_history_shows_what_each_turn_and_each_conversation_cost(tmp_path: Path) -> None:
    """Usage records (what a reply, a transcription or a chat completion cost) sit beside the
    turns: ``list`` gives each conversation's cost, ``show`` each turn's and the total."""
    path = tmp_path / "20260101T000000Z-dddddd.jsonl"
    path.write_text(
        '{"type":"conversation","v":1,"id":"20260101T000000Z-dddddd","started":"s"}\n'
        '{"type":"turn","itemId":"u1","role":"user","text":"hello","time":"t1"}\n'
        '{"type":"usage","source":"transcription","itemId":"u1","model":"gpt-transcribe",'
        '"costUsd":0.0002}\n'
        '{"type":"usage","source":"response","itemId":"a1","model":"gpt-realtime-2.1",'
        '"inputTokens":120,"outputTokens":80,"costUsd":0.0051}\n'
        '{"type":"turn","itemId":"a1","role":"assistant","text":"hi there","time":"t2"}\n'
        '{"type":"usage","source":"response","itemId":"a2","costUsd":0.0067}\n'
        '{"type":"turn","itemId":"a2","role":"assistant","text":"anything else?","time":"t3"}\n'
    )
    out, err = io.StringIO(), io.StringIO()
    assert history_cli.run(["--dir", str(tmp_path), "list"], out, err) == 0
    assert "2 turns" not in out.getvalue() and "3 turns    $0.012  hello" in out.getvalue()
    out = io.StringIO()
    assert history_cli.run(["--dir", str(tmp_path), "show", "2026"], out, err) == 0
    assert out.getvalue() == (
        "[t1] user [$0.00020]: hello\n"
        "[t2] assistant [$0.005]: hi there\n"
        "[t3] assistant [$0.007]: anything else?\n"
        "cost: $0.012\n"
    ), out.getvalue()
    assert err.getvalue() == ""
