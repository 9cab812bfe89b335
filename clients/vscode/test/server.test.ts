/**
 * End to end against a real `vivavoce lsp` with the embedded offline peer: the requests the
 * palette commands build, the notifications the views render, the settings the extension sends.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { EXTENSION_COMMANDS, insertCodeRequest, isUnknownCommand, requestFor } from "../src/core/commands";
import { IDLE, type Status, asStatus } from "../src/core/protocol";
import { explicitSettings, initializationOptions, nest, settingsChange } from "../src/core/settings";
import { statusView } from "../src/core/statusText";
import { TranscriptText } from "../src/core/transcript";
import { Server } from "./server";

const DOC = "file:///tmp/vivavoce-vscode-test.md";
let server: Server;
let status: Status = IDLE;

/** One palette command, as the extension runs it. */
async function run(command: Parameters<typeof requestFor>[0], text?: string): Promise<unknown> {
  const editor = { uri: DOC, position: { line: 1, character: 0 } };
  const { method, params } = requestFor(command, status, editor, text);
  const result = await server.connection.sendRequest(method, params);
  status = asStatus(result) ?? status;
  return result;
}

before(async () => {
  server = new Server();
  const explicit = explicitSettings({
    peer: { defaultValue: "auto", globalValue: "embedded" },
    insertTranscripts: { defaultValue: "none", globalValue: "assistant" },
    voice: { defaultValue: "alloy", globalValue: "verse" },
    "server.command": { globalValue: ["vivavoce", "lsp"] },
  });
  server.configuration = nest(explicit);
  const result = await server.initialize(initializationOptions(explicit));
  const advertised = result.capabilities.executeCommandProvider?.commands ?? [];
  // Every request command the palette wraps is also a server command (the client filters them).
  for (const name of ["start", "stop", "toggleMode", "pushToTalk", "mute", "interrupt", "sendText"]) {
    assert.ok(advertised.includes(`vivavoce.${name}`), name);
    assert.ok(EXTENSION_COMMANDS.includes(`vivavoce.${name}`), name);
  }
  await server.connection.sendNotification("textDocument/didOpen", {
    textDocument: { uri: DOC, languageId: "markdown", version: 1, text: "# Notes\nfirst line\n" },
  });
});

after(async () => {
  assert.equal(await server.close(), 0);
});

test("start, a typed turn, streamed transcript, insertion at the cursor, stop", { timeout: 120_000 }, async () => {
  await run("start");
  assert.equal(status.state, "live");
  assert.equal(status.voice, "verse");
  assert.equal(status.audio, "live");
  assert.equal(statusView(status).text, "$(mic-filled) LIVE");
  assert.ok(server.statuses.some((s) => statusView(s).text === "$(loading~spin) connecting"));

  assert.deepEqual(await run("sendText", "tell me about the weather"), { sent: true });
  await server.until(() => server.edits.length === 1);
  const rendered = new TranscriptText();
  const lines = server.transcripts.map((u) => rendered.render(u)).join("");
  const reply = server.transcripts.find((u) => u.role === "assistant" && u.final)?.text ?? "";
  assert.match(reply, /weather/i);
  assert.ok(server.transcripts.filter((u) => u.role === "assistant" && u.delta !== undefined).length >= 2, "deltas stream");
  assert.ok(lines.includes("you: tell me about the weather\n"), lines);
  assert.ok(lines.includes(`assistant: ${reply}\n`), lines);
  assert.deepEqual(server.edits[0], { uri: DOC, line: 1, character: 0, text: `${reply}\n` });
  // The real server priced the reply's usage: the tooltip says what the conversation cost.
  await server.until(() => (server.statuses.at(-1)?.usage?.costUsd ?? 0) > 0);
  const billed = server.statuses.at(-1);
  assert.ok(billed);
  assert.match(statusView(billed).tooltip, /\ncost so far: \$0\.\d{3,5}[ ,]/);

  await run("mute");
  assert.equal(status.muted, true);
  assert.equal(statusView(status).text, "$(mute) LIVE · muted");
  await run("mute");
  assert.equal(status.muted, false);

  await run("pushToTalk");
  assert.equal(status.pushToTalk, true);
  assert.match(statusView(status).text, /talking/);

  await run("stop");
  assert.equal(status.state, "idle");
  await server.until(() => server.statuses.at(-1)?.state === "idle");
  assert.deepEqual(server.messages, []);
});

test("a voice tool the assistant uses shows as a tool line, final only", { timeout: 120_000 }, async () => {
  await run("start");
  const from = server.transcripts.length;
  await run("sendText", "read this document");
  const since = () => server.transcripts.slice(from);
  await server.until(() => since().some((u) => u.role === "assistant" && u.final && /Lines 1 to/.test(u.text)));
  const tools = since().filter((u) => u.role === "tool");
  const tool = tools[0];
  assert.ok(tools.length === 1 && tool, JSON.stringify(since()));
  assert.ok(tool.final && tool.delta === undefined);
  assert.match(tool.text, /^get_document: read .*vivavoce-vscode-test\.md/);
  const rendered = new TranscriptText();
  const lines = since().map((u) => rendered.render(u)).join("");
  assert.ok(lines.includes(`you: read this document\n🔧 tool: ${tool.text}\nassistant: Lines 1 to`), lines);
  await run("stop");
  assert.equal(status.state, "idle");
});

test("code the assistant writes is shown, not said, and Insert Code puts it at the cursor", { timeout: 120_000 }, async () => {
  await run("start");
  try {
    await run("sendText", "write a function that adds two numbers in python");
    await server.until(() => server.codes.length === 1);
    const code = "def add(a, b):\n    return a + b\n";
    assert.deepEqual(server.codes[0], { id: "code-1", language: "python", code, title: "add" });
    // Said in a few words (and, with insertTranscripts on, those words inserted): not the code.
    const said = "I put the code in the editor.";
    await server.until(() => server.edits.some((e) => e.text === `${said}\n`));
    assert.ok(server.transcripts.some((u) => u.role === "assistant" && u.final && u.text === said));
    const edits = server.edits.length;
    const { method, params } = insertCodeRequest({ uri: DOC, position: { line: 0, character: 0 } });
    assert.deepEqual(await server.connection.sendRequest(method, params), { inserted: true, id: "code-1", uri: DOC });
    assert.deepEqual(server.edits.slice(edits), [{ uri: DOC, line: 0, character: 0, text: code }]);
  } finally {
    await run("stop");
  }
});

test("toggle mode goes to text mode and back, and stop is idempotent", { timeout: 120_000 }, async () => {
  await run("toggleMode");
  assert.equal(status.mode, "text");
  assert.equal(statusView(status).text, "$(comment) vivavoce");
  await run("start");
  assert.equal(status.state, "live");
  // The server says the microphone is not live in a text conversation: TEXT, never LIVE.
  assert.equal(status.audio, "off");
  assert.equal(statusView(status).text, "$(comment-discussion) TEXT");
  await run("stop");
  await run("stop");
  assert.equal(status.state, "idle");
  await run("toggleMode");
  assert.equal(status.mode, "realtime");
});

test("a settings change reaches the server; a cleared key goes back to its default", { timeout: 60_000 }, async () => {
  const before = { peer: "embedded", voice: "verse" };
  const sage = { ...before, voice: "sage" };
  server.configuration = nest(sage); // what the pull after the change will see
  await server.connection.sendNotification("workspace/didChangeConfiguration", { settings: settingsChange(before, sage, {}) });
  assert.equal(asStatus(await server.connection.sendRequest("realtime/status", {}))?.voice, "sage");

  const cleared = { peer: "embedded" };
  server.configuration = nest(cleared);
  await server.connection.sendNotification("workspace/didChangeConfiguration", {
    settings: settingsChange(sage, cleared, { voice: "alloy", peer: "auto" }),
  });
  assert.equal(asStatus(await server.connection.sendRequest("realtime/status", {}))?.voice, "alloy");
});

test("errors are one line; an unknown command is recognised as such", { timeout: 60_000 }, async () => {
  await assert.rejects(run("sendText", "hello"), (error: Error) => {
    assert.match(error.message, /no live call/);
    assert.ok(!error.message.includes("Traceback"));
    return true;
  });
  const command = "vivavoce.noSuchCommand";
  await assert.rejects(server.connection.sendRequest("workspace/executeCommand", { command, arguments: [] }), (error: unknown) => {
    assert.ok(isUnknownCommand(error, command), JSON.stringify(error));
    return true;
  });
  assert.ok(!isUnknownCommand({ code: -32602, message: "invalid params: muted" }, "vivavoce.mute"));
});
