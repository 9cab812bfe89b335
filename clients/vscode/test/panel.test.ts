/**
 * The conversation panel's plumbing: the webview's end (PanelClient, what the web component's
 * attach() talks to) against the extension's end (PanelBridge), messages cloned as postMessage
 * clones them; then the shipped bundle in a fake VS Code with the real server: a webview that
 * says ready, asks for voices and status, starts in a voice, sends text, and sees both turns
 * stream back, and a panel opened again gets the conversation so far.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";

import { type FromPanel, PanelBridge, PanelClient, type PanelHost, type ToPanel, routeFor } from "../src/core/panel";
import { IDLE, type Status, type TranscriptUpdate } from "../src/core/protocol";
import { type Fake, installFakeVscode } from "./fakeVscode";
import { PACKAGE_ROOT, SERVER } from "./server";

interface Note {
  method: string;
  params: unknown;
}

/** Both ends wired back to back; every message is cloned the way postMessage clones it. */
function wired(host: Partial<PanelHost> = {}) {
  const calls: { command: string; args: unknown[] }[] = [];
  const requests: { method: string; params: unknown }[] = [];
  const inserted: string[] = [];
  let status: Status = IDLE;
  const full: PanelHost = {
    command: (id, args) => {
      calls.push({ command: id, args });
      status = { ...status, state: id === "vivavoce.stop" ? "idle" : "live" };
      return Promise.resolve(undefined);
    },
    request: (method, params) => {
      requests.push({ method, params });
      return Promise.resolve({ realtime: ["alloy", "verse"], text: ["alloy", "echo"] });
    },
    status: () => status,
    insert: (text) => {
      inserted.push(text);
      return Promise.resolve();
    },
    ...host,
  };
  const bridge = new PanelBridge(full);
  const notes: Note[] = [];
  const received: Promise<void>[] = [];
  const client = new PanelClient(
    (message: FromPanel) => { received.push(bridge.receive(structuredClone(message))); },
    (method, params) => notes.push({ method, params }),
  );
  bridge.open((message: ToPanel) => { client.receive(structuredClone(message)); });
  const settled = () => Promise.all(received);
  return { bridge, client, notes, calls, requests, inserted, settled };
}

function turn(itemId: string, role: TranscriptUpdate["role"], text: string, final: boolean, delta?: string): TranscriptUpdate {
  return { itemId, previousItemId: null, role, text, final, ...(delta === undefined ? {} : { delta }) };
}

describe("panel messages", () => {
  test("the panel's controls run the palette's commands; voices and push to talk go to the server", () => {
    assert.deepEqual(routeFor("realtime/start", { mode: "realtime", voice: "verse" }), { command: "vivavoce.start", args: [{ voice: "verse" }] });
    assert.deepEqual(routeFor("realtime/start", { mode: "text" }), { command: "vivavoce.start", args: [] });
    assert.deepEqual(routeFor("realtime/stop", null), { command: "vivavoce.stop", args: [] });
    assert.deepEqual(routeFor("realtime/toggleMode", null), { command: "vivavoce.toggleMode", args: [] });
    assert.deepEqual(routeFor("realtime/mute", { muted: true }), { command: "vivavoce.mute", args: [] });
    assert.deepEqual(routeFor("realtime/sendText", { text: "hi" }), { command: "vivavoce.sendText", args: ["hi"] });
    assert.deepEqual(routeFor("realtime/pushToTalk", { pressed: true }), { request: "realtime/pushToTalk", params: { pressed: true } });
    assert.deepEqual(routeFor("realtime/voices", null), { request: "realtime/voices", params: {} });
    assert.equal(routeFor("realtime/sendText", { text: "" }), undefined);
    assert.equal(routeFor("workspace/executeCommand", { command: "x" }), undefined);
  });

  test("a request goes through the extension and its answer comes back", async () => {
    const { client, calls, requests } = wired();
    assert.deepEqual(await client.request("realtime/voices"), { realtime: ["alloy", "verse"], text: ["alloy", "echo"] });
    assert.deepEqual(requests, [{ method: "realtime/voices", params: {} }]);
    const status = (await client.request("realtime/start", { mode: "realtime", voice: "verse" })) as Status;
    assert.equal(status.state, "live");
    assert.deepEqual(calls, [{ command: "vivavoce.start", args: [{ voice: "verse" }] }]);
    assert.equal(((await client.request("realtime/status")) as Status).state, "live");
  });

  test("a failed request rejects in the webview with the server's first line", async () => {
    const failing: PanelHost["request"] = () => Promise.reject(new Error("no call\n  Traceback …"));
    const { client } = wired({ request: failing });
    await assert.rejects(client.request("realtime/pushToTalk", { pressed: true }), { message: "no call" });
    await assert.rejects(client.request("realtime/nonsense"), /cannot ask for realtime\/nonsense/);
  });

  test("notifications reach the webview once it is ready, the conversation so far first", async () => {
    const { bridge, client, notes, settled } = wired();
    bridge.transcript(turn("u1", "user", "what about", false, "what about"));
    bridge.transcript(turn("u1", "user", "what about the tests", true));
    bridge.transcript(turn("a1", "assistant", "", false, "They "));
    bridge.transcript(turn("a1", "assistant", "", false, "pass."));
    assert.equal(notes.length, 0); // not ready: nothing is posted (it would be lost)
    client.ready();
    await settled();
    assert.deepEqual(notes.map((n) => n.params), [
      turn("u1", "user", "what about the tests", true),
      turn("a1", "assistant", "They pass.", false),
      IDLE,
    ]);
    bridge.transcript(turn("a1", "assistant", "", false, " All"));
    bridge.status({ ...IDLE, state: "live" });
    assert.deepEqual(notes.slice(3), [
      { method: "realtime/transcript", params: turn("a1", "assistant", "", false, " All") },
      { method: "realtime/status", params: { ...IDLE, state: "live" } },
    ]);
  });

  test("shown code reaches the panel in its place among the turns, also for a panel opened later", async () => {
    const { bridge, client, notes, settled } = wired();
    const shown = { id: "code_1", language: "python", code: "def add(a, b):\n    return a + b\n", title: "add" };
    bridge.transcript(turn("u1", "user", "write add", true));
    bridge.code(shown);
    bridge.transcript(turn("a1", "assistant", "I put the code in the editor.", true));
    client.ready();
    await settled();
    assert.deepEqual(notes.map((n) => n.method), ["realtime/transcript", "realtime/code", "realtime/transcript", "realtime/status"]);
    assert.deepEqual(notes[1]?.params, shown);
    bridge.code({ ...shown, id: "code_2" });
    assert.deepEqual(notes[4], { method: "realtime/code", params: { ...shown, id: "code_2" } });
    client.receive({ type: "notification", method: "realtime/code", params: { id: 3 } }); // junk
    assert.equal(notes.length, 5);
  });

  test("a closed panel gets nothing; the Insert button reaches the editor; junk is ignored", async () => {
    const { bridge, client, notes, inserted, settled } = wired();
    client.ready();
    client.insert("print('hi')\n");
    await settled();
    assert.deepEqual(inserted, ["print('hi')\n"]);
    await bridge.receive({ type: "insert", text: 42 });
    await bridge.receive("ready");
    await bridge.receive(null);
    client.receive({ type: "notification", method: "realtime/transcript", params: { itemId: 1 } });
    bridge.close();
    bridge.status(IDLE);
    assert.equal(notes.length, 1); // the status sent on ready only
    assert.deepEqual(inserted, ["print('hi')\n"]);
  });
});

// ------------------------------------------------------------------ the bundle with the real server

interface Extension {
  activate(context: unknown): Promise<{ status: { state: string } }>;
  deactivate(): Promise<void>;
}

class FakeWebview {
  options: unknown = {};
  html = "";
  readonly cspSource = "https://webview.test";
  readonly posted: ToPanel[] = [];
  client: PanelClient | undefined;
  private listener: ((message: unknown) => unknown) | undefined;
  postMessage(message: ToPanel): Promise<boolean> {
    this.posted.push(structuredClone(message));
    this.client?.receive(structuredClone(message));
    return Promise.resolve(true);
  }
  onDidReceiveMessage(listener: (message: unknown) => unknown) {
    this.listener = listener;
    return { dispose: () => { this.listener = undefined; } };
  }
  asWebviewUri(uri: { path: string }) {
    return { toString: () => `https://webview.test${uri.path}` };
  }
  /** A message from the page's script. */
  send(message: FromPanel): void {
    void this.listener?.(structuredClone(message));
  }
}

interface Provider {
  resolveWebviewView(view: unknown): void;
}

interface UriApi {
  file(fsPath: string): unknown;
  joinPath(base: unknown, ...parts: string[]): unknown;
}

function fakeView(webview: FakeWebview) {
  return { webview, visible: true, onDidDispose: () => ({ dispose: () => undefined }) };
}

async function until(predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the panel in the extension, with the real server", () => {
  let fake: Fake;
  let extension: Extension;
  let Uri: UriApi;
  const panel = () => fake.views.get("vivavoce.conversation") as Provider;
  const subscriptions: { dispose(): unknown }[] = [];

  before(async () => {
    fake = installFakeVscode();
    Uri = fake.vscode.Uri as UriApi;
    await fake.configure("server.command", [SERVER, "lsp"]);
    await fake.configure("peer", "embedded");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    extension = require(path.join(PACKAGE_ROOT, "dist", "extension.js")) as Extension;
    const packageJSON: unknown = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8"));
    const extensionUri = Uri.file(PACKAGE_ROOT);
    await extension.activate({ subscriptions, extension: { packageJSON }, extensionUri });
  });

  after(async () => {
    await extension.deactivate();
    subscriptions.forEach((s) => s.dispose());
  });

  test("the page runs only its own two scripts", () => {
    const webview = new FakeWebview();
    panel().resolveWebviewView(fakeView(webview));
    const nonce = /script-src 'nonce-([^']+)'/.exec(webview.html)?.[1];
    assert.ok(nonce, webview.html);
    assert.match(webview.html, /default-src 'none'/);
    const scripts = [...webview.html.matchAll(/<script nonce="([^"]+)" src="([^"]+)"><\/script>/g)];
    assert.deepEqual(scripts.map((m) => [m[1], m[2]?.replace(/^.*\/dist\//, "")]), [[nonce, "vivavoce-chat.js"], [nonce, "panel.js"]]);
    assert.equal(webview.html.match(/<script/g)?.length, 2);
    assert.deepEqual(webview.options, { enableScripts: true, localResourceRoots: [Uri.joinPath(Uri.file(PACKAGE_ROOT), "dist")] });
  });

  test("start in a voice, send text: both turns stream into the panel; a panel opened again replays them", { timeout: 120_000 }, async () => {
    const webview = new FakeWebview();
    panel().resolveWebviewView(fakeView(webview));
    const notes: Note[] = [];
    const client = new PanelClient((m) => { webview.send(m); }, (method, params) => notes.push({ method, params }));
    webview.client = client;
    client.ready();
    const voices = (await client.request("realtime/voices")) as { realtime: string[]; text: string[] };
    assert.ok(voices.realtime.includes("verse"), JSON.stringify(voices));
    assert.equal(((await client.request("realtime/status")) as Status).state, "idle");

    const live = (await client.request("realtime/start", { mode: "realtime", voice: "verse" })) as Status;
    assert.equal(live.state, "live");
    assert.equal(live.voice, "verse");
    assert.equal(fake.statusBar().text, "$(mic-filled) LIVE"); // the same command as the palette's
    await client.request("realtime/sendText", { text: "what about the tests" });
    const transcripts = () => notes.filter((n) => n.method === "realtime/transcript").map((n) => n.params as TranscriptUpdate);
    await until(() => transcripts().some((t) => t.role === "assistant" && t.final));
    const user = transcripts().find((t) => t.role === "user" && t.final);
    assert.equal(user?.text, "what about the tests");
    const assistant = transcripts().filter((t) => t.role === "assistant");
    assert.ok(assistant.some((t) => !t.final && t.delta), "the reply streams as deltas");
    const reply = assistant.at(-1)?.text ?? "";
    assert.ok(reply.length > 0);
    assert.ok(notes.some((n) => n.method === "realtime/status" && (n.params as Status).state === "live"));

    const mode = (await client.request("realtime/toggleMode")) as Status;
    assert.equal(mode.mode, "text");

    // The view is made again (hidden and shown): the new page gets the conversation so far.
    const again = new FakeWebview();
    panel().resolveWebviewView(fakeView(again));
    const replayed: Note[] = [];
    again.client = new PanelClient((m) => { again.send(m); }, (method, params) => replayed.push({ method, params }));
    again.client.ready();
    await until(() => replayed.some((n) => n.method === "realtime/status"));
    assert.deepEqual(
      replayed.filter((n) => n.method === "realtime/transcript").map((n) => { const t = n.params as TranscriptUpdate; return [t.role, t.text, t.final]; }),
      [["user", "what about the tests", true], ["assistant", reply, true]],
    );
    assert.equal(((await again.client.request("realtime/stop")) as Status).state, "idle");
    assert.deepEqual(fake.errors, []);
  });
});
