/**
 * Smoke test of the shipped bundle (dist/extension.js) in a fake VS Code (jest-mock-vscode):
 * activate() starts the real server through vscode-languageclient, registers every contributed
 * command, and a palette round trip (start → typed turn → stop) shows in the status bar and the
 * transcript channel.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, test } from "node:test";

import { EXTENSION_COMMANDS } from "../src/core/commands";
import { type Fake, installFakeVscode } from "./fakeVscode";
import { PACKAGE_ROOT, SERVER } from "./server";

interface Extension {
  activate(context: unknown): Promise<{ status: { state: string }; running: boolean }>;
  deactivate(): Promise<void>;
}

const packageJSON = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as {
  contributes: { commands: { command: string }[]; keybindings: { command: string; when: string }[] };
};
let fake: Fake;
let extension: Extension;
const subscriptions: { dispose(): unknown }[] = [];

async function until(predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  fake = installFakeVscode();
  await fake.configure("server.command", [SERVER, "lsp"]);
  await fake.configure("peer", "embedded");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  extension = require(path.join(PACKAGE_ROOT, "dist", "extension.js")) as Extension;
});

after(async () => {
  await extension.deactivate();
  subscriptions.forEach((s) => s.dispose());
});

test("activate starts the server and registers every contributed command", { timeout: 60_000 }, async () => {
  const connection = await extension.activate({ subscriptions, extension: { packageJSON } });
  assert.equal(connection.running, true, fake.channels.get("vivavoce")?.text);
  const contributed = packageJSON.contributes.commands.map((c) => c.command).sort();
  assert.deepEqual(contributed, [...EXTENSION_COMMANDS].sort());
  for (const id of contributed) {
    assert.ok(fake.commands.has(id), id);
  }
  assert.deepEqual(packageJSON.contributes.keybindings, [{ command: "vivavoce.pushToTalk", key: "f4", when: "vivavoce.live" }]);
  assert.equal(fake.contexts.get("vivavoce.live"), false);
  const item = fake.statusBar();
  assert.equal(item.text, "$(mic) vivavoce");
  assert.equal(item.command, "vivavoce.toggleConversation");
});

test("status bar click starts, a typed turn streams into the transcript, click stops", { timeout: 120_000 }, async () => {
  const item = fake.statusBar();
  await fake.run("vivavoce.toggleConversation");
  await until(() => item.text === "$(mic-filled) LIVE");
  assert.equal(fake.contexts.get("vivavoce.live"), true);

  await fake.run("vivavoce.sendText", "what about the tests");
  const transcript = fake.channels.get("vivavoce transcript");
  assert.ok(transcript);
  await until(() => /assistant: .*\n$/.test(transcript.text));
  assert.match(transcript.text, /— live, voice mode \(gpt-realtime-2.1, alloy\) —\nyou: what about the tests\nassistant: .+\n/);

  await fake.run("vivavoce.pushToTalk");
  await until(() => item.text.includes("talking"));

  await fake.run("vivavoce.toggleConversation");
  await until(() => item.text === "$(mic) vivavoce");
  assert.match(transcript.text, /— ended —\n$/);
  assert.deepEqual(fake.errors, []);
  // The server's log lines appear once each (window/logMessage), none of them as an error.
  const log = fake.channels.get("vivavoce")?.text ?? "";
  const lines = log.split("\n").filter((l) => l);
  assert.ok(lines.length > 0);
  assert.deepEqual(lines.filter((l, i) => lines.indexOf(l) !== i), [], log);
  assert.deepEqual(lines.filter((l) => l.startsWith("[error]")), [], log);
});

test("code the assistant shows opens beside the editor in its language, keeping the focus", { timeout: 120_000 }, async () => {
  await fake.run("vivavoce.sendText", "write a function that adds two numbers in lua");
  await until(() => fake.shown.length === 1);
  const shown = fake.shown[0];
  assert.equal(shown?.language, "lua");
  assert.equal(shown.text, "local function add(a, b)\n  return a + b\nend\n");
  // Beside the editor (ViewColumn.Beside), the focus kept where the user works.
  assert.deepEqual(shown.options, { viewColumn: -2, preserveFocus: true, preview: false });
  await fake.run("vivavoce.stop");
  await until(() => fake.statusBar().text === "$(mic) vivavoce");
  assert.deepEqual(fake.errors, []);
});

test("server-only commands the server lacks fall back quietly", { timeout: 30_000 }, async () => {
  // No vivavoce.listDevices yet: Select Microphone asks for a name; cancelling changes nothing.
  await fake.run("vivavoce.selectMicrophone");
  assert.deepEqual(fake.errors, []);
});
