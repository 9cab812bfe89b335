/**
 * The vscode-free logic: command → request, status bar text, transcript rendering, settings →
 * what the server receives, device and history results, error classification.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { errorText, insertCodeRequest, isUnknownCommand, requestFor, toggleConversation } from "../src/core/commands";
import { deviceChoices, historyRecordings, historyTarget, selectDeviceArguments } from "../src/core/devices";
import { IDLE, type Status, type TranscriptUpdate, asCode, asStatus, asTranscript, audioUse, languageId } from "../src/core/protocol";
import { HOLD_MS, type LogLine, ServerLog } from "../src/core/serverLog";
import { explicitSettings, initializationOptions, nest, serverCommand, settingsChange } from "../src/core/settings";
import { statusView } from "../src/core/statusText";
import { TranscriptText } from "../src/core/transcript";
import { voiceChoices } from "../src/core/voices";

const LIVE: Status = { ...IDLE, state: "live", model: "gpt-realtime", voice: "verse", callId: "rtc_1" };

describe("commands", () => {
  test("start sends the active editor and cursor so replies land there", () => {
    const editor = { uri: "file:///a.md", position: { line: 3, character: 2 } };
    assert.deepEqual(requestFor("start", IDLE, editor), {
      method: "realtime/start",
      params: { textDocument: { uri: "file:///a.md" }, position: { line: 3, character: 2 } },
    });
    assert.deepEqual(requestFor("start", IDLE), { method: "realtime/start", params: {} });
  });

  test("start carries the voice the user picked", () => {
    const editor = { uri: "file:///a.md", position: { line: 0, character: 0 } };
    assert.deepEqual(requestFor("start", LIVE, editor, undefined, "verse").params, {
      textDocument: { uri: "file:///a.md" },
      position: { line: 0, character: 0 },
      voice: "verse",
    });
    assert.deepEqual(requestFor("start", IDLE, undefined, undefined, "ash").params, { voice: "ash" });
  });

  test("the voice picker lists the current mode's voices, the current one first", () => {
    const listed = { realtime: ["alloy", "ash", "verse"], text: ["alloy", "nova"], mode: "realtime", voice: "verse" };
    assert.deepEqual(voiceChoices(listed), [
      { label: "verse", voice: "verse", description: "current" },
      { label: "alloy", voice: "alloy" },
      { label: "ash", voice: "ash" },
    ]);
    assert.deepEqual(voiceChoices({ ...listed, mode: "text", voice: "" }).map((c) => c.voice), ["alloy", "nova"]);
    assert.deepEqual(voiceChoices({ ...listed, voice: "custom" })[0], { label: "custom", voice: "custom", description: "current" });
    assert.deepEqual(voiceChoices(null), []);
    assert.deepEqual(voiceChoices({ realtime: [1, "x"] }), [{ label: "x", voice: "x" }]);
  });

  test("push to talk and mute flip the state the server last reported", () => {
    assert.deepEqual(requestFor("pushToTalk", LIVE).params, { pressed: true });
    assert.deepEqual(requestFor("pushToTalk", { ...LIVE, pushToTalk: true }).params, { pressed: false });
    assert.deepEqual(requestFor("mute", LIVE).params, { muted: true });
    assert.deepEqual(requestFor("mute", { ...LIVE, muted: true }).params, { muted: false });
  });

  test("plain commands carry an empty params object", () => {
    for (const command of ["stop", "toggleMode", "interrupt"] as const) {
      assert.deepEqual(requestFor(command, LIVE), { method: `realtime/${command}`, params: {} });
    }
    assert.deepEqual(requestFor("sendText", LIVE, undefined, "hi"), { method: "realtime/sendText", params: { text: "hi" } });
  });

  test("Insert Code names the editor and cursor (and the id, if one was given)", () => {
    const editor = { uri: "file:///a.py", position: { line: 3, character: 2 } };
    assert.deepEqual(insertCodeRequest(editor), {
      method: "realtime/insertCode",
      params: { textDocument: { uri: "file:///a.py" }, position: { line: 3, character: 2 } },
    });
    assert.deepEqual(insertCodeRequest(undefined, "code-2"), { method: "realtime/insertCode", params: { id: "code-2" } });
  });

  test("shown code opens in VS Code's language for what the model calls it", () => {
    assert.equal(languageId("Python"), "python");
    assert.equal(languageId("ts"), "typescript");
    assert.equal(languageId("bash"), "shellscript");
    assert.equal(languageId(""), "plaintext");
    assert.deepEqual(asCode({ id: "code-1", language: "lua", code: "x = 1\n", title: "" }), { id: "code-1", language: "lua", code: "x = 1\n" });
    assert.equal(asCode({ id: "code-1", code: 5 }), undefined);
  });

  test("the status bar click starts when idle or failed and stops otherwise", () => {
    assert.equal(toggleConversation(IDLE), "start");
    assert.equal(toggleConversation({ ...IDLE, state: "error" }), "start");
    assert.equal(toggleConversation(LIVE), "stop");
    assert.equal(toggleConversation({ ...IDLE, state: "connecting" }), "stop");
    // Listening for the wake word, no call is open: a click opens one at once.
    assert.equal(toggleConversation({ ...IDLE, state: "listening", audio: "wake" }), "start");
  });

  test("unknown commands are recognised by code or by message, other errors are not", () => {
    assert.ok(isUnknownCommand({ code: -32601, message: "x" }, "vivavoce.listDevices"));
    const pygls = "Invalid Params: Command name 'vivavoce.listDevices' is not defined";
    assert.ok(isUnknownCommand({ code: -32602, message: pygls }, "vivavoce.listDevices"));
    assert.ok(!isUnknownCommand({ code: -32602, message: "invalid params: kind" }, "vivavoce.listDevices"));
    assert.equal(errorText({ message: "one line\n  Traceback: ..." }), "one line");
    assert.equal(errorText("plain"), "plain");
  });
});

describe("status bar", () => {
  test("live voice call shows LIVE with the mic and binds F4", () => {
    const view = statusView(LIVE);
    assert.equal(view.text, "$(mic-filled) LIVE");
    assert.ok(view.live && !view.error);
    assert.match(view.tooltip, /gpt-realtime, verse/);
    assert.equal(statusView({ ...LIVE, muted: true, pushToTalk: true }).text, "$(mute) LIVE · talking · muted");
    assert.doesNotMatch(view.tooltip, /lost/);
    assert.match(statusView({ ...LIVE, inputDropped: 3 }).tooltip, /60 ms of microphone audio lost/);
    const deaf = statusView({ ...LIVE, audioError: "the microphone/speaker streams stopped" });
    assert.equal(deaf.text, "$(warning) LIVE · no audio");
    assert.match(deaf.tooltip, /without sound: the microphone\/speaker streams stopped/);
  });

  test("the tooltip says what the conversation has cost, and a hung-up call says why it is idle", () => {
    const usage = { inputTokens: 900, outputTokens: 300, audioInputSeconds: 4, audioOutputSeconds: 6, costUsd: 0.0123, callCostUsd: 0.004 };
    const view = statusView({ ...LIVE, usage });
    assert.equal(view.text, "$(mic-filled) LIVE");
    assert.equal(view.tooltip.split("\n")[1]?.split(",")[0], "cost so far: $0.012"); // after what is going on
    assert.match(view.tooltip, /cost so far: \$0\.012, this call \$0\.004 · 900 tokens in, 300 out · 4 s heard, 6 s spoken/);
    assert.doesNotMatch(statusView(LIVE).tooltip, /cost/); // nothing billed yet
    assert.match(statusView({ ...LIVE, usage: { ...usage, costUsd: 0.0002, callCostUsd: 0.0002 } }).tooltip, /cost so far: \$0\.00020 ·/);
    const hungUp = statusView({ ...IDLE, hungUpAfter: 120, usage });
    assert.equal(hungUp.text, "$(mic) vivavoce · hung up");
    assert.match(hungUp.tooltip, /^vivavoce: idle \(hung up after 2 min\)\ncost so far: \$0\.012/);
    assert.ok(hungUp.live); // F4 (push to talk) stays bound: its press calls again
    assert.match(statusView({ ...IDLE, hungUpAfter: 3 }).tooltip, /hung up after 3 s/);
    // Dictation is hung up the same way, and says how to go on.
    const dictation = statusView({ ...IDLE, mode: "dictation", hungUpAfter: 3, usage });
    assert.equal(dictation.text, "$(mic) vivavoce · hung up");
    assert.match(dictation.tooltip, /^vivavoce: dictation idle \(hung up after 3 s\)\ncost so far: \$0\.012/);
    assert.match(dictation.tooltip, /Dictate at the Cursor dictates again/);
  });

  test("LIVE only while the microphone streams to a realtime call: TEXT and DICTATING otherwise", () => {
    // A text conversation (its replies spoken over a call that sends no microphone) is not LIVE.
    const text = statusView({ ...LIVE, mode: "text", voice: "echo", callId: null, audio: "off" });
    assert.equal(text.text, "$(comment-discussion) TEXT");
    assert.ok(!text.live && !text.tooltip.includes("live"));
    // Text mode's push to talk records a turn to transcribe: DICTATING, still not LIVE.
    const dictating = statusView({ ...LIVE, mode: "text", pushToTalk: true, audio: "dictating" });
    assert.equal(dictating.text, "$(record) DICTATING");
    assert.ok(!dictating.live && dictating.tooltip.includes("Push to Talk again sends"));
    // Dictation mode writes at the cursor: its tooltip says how to stop, not push to talk.
    const dictation = statusView({ ...LIVE, mode: "dictation", audio: "dictating" });
    assert.equal(dictation.text, "$(record) DICTATING");
    assert.match(dictation.tooltip, /dictating at the cursor/);
    assert.ok(!dictation.tooltip.includes("Push to Talk"));
    // …even before the conversation was started (the press opens the microphone).
    assert.equal(statusView({ ...IDLE, mode: "text", pushToTalk: true, audio: "dictating" }).text, "$(record) DICTATING");
    // An older server sends no `audio`: the same rule from mode, state and pushToTalk.
    assert.equal(audioUse({ ...LIVE, mode: "text" }), "off");
    assert.equal(audioUse({ ...LIVE, mode: "text", pushToTalk: true }), "dictating");
    assert.equal(audioUse(LIVE), "live");
    assert.equal(audioUse({ ...LIVE, state: "reconnecting" }), "off");
    assert.equal(statusView({ ...LIVE, mode: "text" }).text, "$(comment-discussion) TEXT");
    assert.equal(statusView({ ...LIVE, audio: "live" }).text, "$(mic-filled) LIVE");
  });

  test("listening for the wake word is its own state: WAKE WORD, never LIVE", () => {
    const wake = statusView({ ...IDLE, state: "listening", audio: "wake" });
    assert.equal(wake.text, "$(unmute) WAKE WORD");
    assert.ok(!wake.live && !wake.error);
    assert.match(wake.tooltip, /on this machine/);
    assert.equal(statusView({ ...IDLE, state: "listening", muted: true }).text, "$(mute) WAKE WORD");
    // An older server sends no `audio`: the state says it.
    assert.equal(audioUse({ ...IDLE, state: "listening" }), "wake");
    assert.equal(asStatus({ ...IDLE, state: "listening" })?.state, "listening");
  });

  test("text mode, connecting, error and a stopped server read differently", () => {
    assert.equal(statusView({ ...LIVE, mode: "text" }).live, false);
    assert.equal(statusView({ ...IDLE, state: "connecting" }).text, "$(loading~spin) connecting");
    const failed = statusView({ ...IDLE, state: "error", error: "no API key" });
    assert.ok(failed.error && failed.tooltip.includes("no API key"));
    assert.ok(statusView(IDLE, false).error);
    assert.equal(statusView(IDLE).text, "$(mic) vivavoce");
  });

  test("junk from the wire is not a status", () => {
    assert.equal(asStatus({ state: "flying" }), undefined);
    assert.equal(asStatus(null), undefined);
    assert.equal(asStatus({ state: "live" })?.mode, "realtime");
    assert.equal(asTranscript({ itemId: "a", role: "bot", text: "", final: true }), undefined);
    assert.equal(asTranscript({ itemId: "a", role: "tool", text: "x", final: true })?.role, "tool");
  });
});

describe("transcript", () => {
  const t = (over: Partial<TranscriptUpdate>): TranscriptUpdate => ({
    itemId: "a1",
    previousItemId: null,
    role: "assistant",
    text: "",
    final: false,
    ...over,
  });

  test("deltas stream on one line and the final closes it", () => {
    const text = new TranscriptText();
    const out = [
      text.render(t({ itemId: "u1", role: "user", text: "hello there", final: true })),
      text.render(t({ delta: "Hi", text: "Hi" })),
      text.render(t({ delta: " you", text: "Hi you" })),
      text.render(t({ text: "Hi you.", final: true })),
      text.render(t({ text: "Hi you.", final: true })), // repeated final: ignored
    ].join("");
    assert.equal(out, "you: hello there\nassistant: Hi you.\n");
  });

  test("a turn that interrupts a streaming one gets its own line", () => {
    const text = new TranscriptText();
    const out = [
      text.render(t({ delta: "Long ans", text: "Long ans" })),
      text.render(t({ itemId: "u2", role: "user", text: "stop", final: true })),
      text.render(t({ delta: "wer", text: "Long answer" })),
      text.render(t({ text: "Long answer", final: true, interrupted: true })),
    ].join("");
    assert.equal(out, "assistant: Long ans\nyou: stop\nassistant: … wer [interrupted]\n");
  });

  test("a final that differs from the deltas is printed whole; notes close the line", () => {
    const text = new TranscriptText();
    assert.equal(text.render(t({ delta: "teh", text: "teh" })), "assistant: teh");
    assert.equal(text.note("— ended —"), "\n— ended —\n");
    assert.equal(text.render(t({ text: "the", final: true })), "assistant: the\n");
    assert.equal(text.render(t({ itemId: "u3", role: "user", text: "", final: true })), "");
  });

  test("tool lines have their own label and close a streaming line", () => {
    const text = new TranscriptText();
    const line = "replace_selection: replaced 'count' with 'total' in notes.md";
    const out = [
      text.render(t({ delta: "Sure", text: "Sure" })),
      text.render(t({ itemId: "t1", previousItemId: "a1", role: "tool", text: line, final: true })),
      text.render(t({ delta: ", done.", text: "Sure, done." })),
      text.render(t({ text: "Sure, done.", final: true })),
    ].join("");
    assert.equal(out, `assistant: Sure\n🔧 tool: ${line}\nassistant: … , done.\n`);
  });
});

describe("settings", () => {
  test("only values the user set are sent, nested, without client-only keys", () => {
    const explicit = explicitSettings({
      peer: { defaultValue: "auto", globalValue: "embedded" },
      voice: { defaultValue: "alloy", globalValue: "sage", workspaceValue: "verse" },
      "turnDetection.threshold": { defaultValue: 0.5, workspaceFolderValue: 0.7 },
      model: { defaultValue: "gpt-realtime" },
      "server.command": { globalValue: ["x", "lsp"] },
      "trace.server": { globalValue: "verbose" },
    });
    assert.deepEqual(explicit, { peer: "embedded", voice: "verse", "turnDetection.threshold": 0.7 });
    assert.deepEqual(initializationOptions(explicit), {
      vivavoce: { peer: "embedded", voice: "verse", turnDetection: { threshold: 0.7 } },
    });
  });

  test("a cleared setting is sent as its default, except the API key", () => {
    const defaults = { voice: "alloy", apiKey: null, peer: "auto" };
    const change = settingsChange({ voice: "sage", apiKey: "sk-1", peer: "embedded" }, { peer: "embedded" }, defaults);
    assert.deepEqual(change, { vivavoce: { peer: "embedded", voice: "alloy" } });
  });

  test("nest merges siblings", () => {
    assert.deepEqual(nest({ "a.b": 1, "a.c": 2, d: 3 }), { a: { b: 1, c: 2 }, d: 3 });
  });

  test("the server command is an array or a string, with a default", () => {
    assert.deepEqual(serverCommand(undefined), { command: "vivavoce", args: ["lsp"] });
    assert.deepEqual(serverCommand(["/v/bin/vivavoce", "lsp"]), { command: "/v/bin/vivavoce", args: ["lsp"] });
    assert.deepEqual(serverCommand('"/my dir/vivavoce" lsp --tcp'), { command: "/my dir/vivavoce", args: ["lsp", "--tcp"] });
    assert.deepEqual(serverCommand(""), { command: "vivavoce", args: ["lsp"] });
  });
});

describe("devices and history", () => {
  test("device lists of several shapes become choices, system default first", () => {
    const fromObjects = deviceChoices(
      [
        { name: "USB Mic", kind: "input", default: true },
        { name: "Speakers", kind: "output" },
        { name: "Headset", maxInputChannels: 1, maxOutputChannels: 2 },
      ],
      "input",
    );
    assert.deepEqual(
      fromObjects.map((c) => c.value),
      [null, "USB Mic", "Headset"],
    );
    assert.equal(fromObjects[1]?.detail, "system default");
    assert.deepEqual(
      deviceChoices({ inputs: ["a"], outputs: ["b", "c"] }, "output").map((c) => c.label),
      ["System default", "b", "c"],
    );
    assert.deepEqual(deviceChoices({ devices: [{ name: "m", kind: "microphone" }] }, "input").length, 2);
    assert.deepEqual(deviceChoices(null, "input").length, 1);
    assert.deepEqual(selectDeviceArguments("output", "b"), [{ kind: "output", device: "b" }]);
  });

  test("history results give a URI or a path", () => {
    assert.deepEqual(historyTarget({ uri: "file:///h/x.jsonl" }), { uri: "file:///h/x.jsonl" });
    assert.deepEqual(historyTarget("/home/u/.local/share/vivavoce"), { path: "/home/u/.local/share/vivavoce" });
    assert.equal(historyTarget(null), undefined);
    const recorded = { uri: "file:///h/x.jsonl", recordings: [{ uri: "file:///h/x-1.wav", path: "/h/x-1.wav" }, 7] };
    assert.deepEqual(historyRecordings(recorded), ["file:///h/x-1.wav"]);
    assert.deepEqual(historyRecordings({ uri: "file:///h/x.jsonl" }), []);
  });
});

describe("server log", () => {
  const R = "2026-01-02 03:04:05,678";
  function merged(): { log: ServerLog; shown: LogLine[] } {
    const shown: LogLine[] = [];
    return { log: new ServerLog((line) => shown.push(line)), shown };
  }

  test("a record window/logMessage carried is not shown again from stderr, whichever comes first", async () => {
    const { log, shown } = merged();
    log.logMessage("call started");
    log.stderr(`${R} INFO vivavoce.lsp.server: call started`);
    log.stderr(`${R} WARNING vivavoce.audio: no audio devices`);
    log.logMessage("no audio devices");
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS + 50));
    assert.deepEqual(shown, []);
  });

  test("stderr-only records (the peer's, pygls') show once at their level; a traceback at its record's", async () => {
    const { log, shown } = merged();
    log.stderr(`${R} INFO pygls.server: shutting down`);
    log.stderr(`${R} INFO vivavoce.peer.app: local peer on http://127.0.0.1:1/v1`);
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS + 50));
    log.logMessage("the call failed");
    log.stderr(`${R} ERROR vivavoce.lsp.server: the call failed`);
    log.stderr("Traceback (most recent call last):");
    log.stderr("");
    assert.deepEqual(shown, [
      { level: "info", text: "pygls.server: shutting down" },
      { level: "info", text: "vivavoce.peer.app: local peer on http://127.0.0.1:1/v1" },
      { level: "error", text: "Traceback (most recent call last):" },
    ]);
  });

  test("a multi-line message is dropped whole; output before any record is an error", () => {
    const { log, shown } = merged();
    log.stderr("vivavoce: command not found");
    log.logMessage("two\nlines");
    log.stderr(`${R} WARNING vivavoce: two`);
    log.stderr("lines");
    log.stderr(`${R} DEBUG asyncio: x`);
    log.stderr("  more");
    assert.deepEqual(shown, [
      { level: "error", text: "vivavoce: command not found" },
      { level: "debug", text: "asyncio: x" },
      { level: "debug", text: "  more" },
    ]);
  });
});
