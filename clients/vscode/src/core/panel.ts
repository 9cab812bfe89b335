/**
 * The conversation panel's plumbing, both ends: the messages between the extension and its
 * webview, the extension's end (PanelBridge: answers the panel's requests, forwards the server's
 * notifications, replays the conversation so far to a panel that opens late or comes back), and
 * the webview's end (PanelClient: what the web component's attach() talks to). The webview
 * renders with clients/web/vivavoce-chat.js itself. No `vscode` import.
 */

import { Method, type ShownCode, type Status, type TranscriptUpdate, asCode, asTranscript } from "./protocol";

/** Extension → webview. */
export type ToPanel =
  | { type: "notification"; method: string; params: unknown }
  | { type: "response"; id: number; result?: unknown; error?: string };

/** Webview → extension. */
export type FromPanel =
  | { type: "ready" }
  | { type: "request"; id: number; method: string; params: unknown }
  | { type: "insert"; text: string };

/** How the extension does what the panel asks: a palette command, or a plain request. */
export type Route =
  | { command: string; args: unknown[] }
  | { request: string; params: Record<string, unknown> };

/** The extension as the bridge sees it. */
export interface PanelHost {
  /** Run a command (the panel's controls are the palette's commands). */
  command(id: string, args: unknown[]): Promise<unknown>;
  /** A `realtime/*` request straight to the server (the status is updated from its result). */
  request(method: string, params: Record<string, unknown>): Promise<unknown>;
  /** The last status the server sent. */
  status(): Status;
  /** Put text at the active editor's cursor. */
  insert(text: string): Promise<void>;
}

/** Turns kept for a panel that opens after they were said. */
const KEPT_TURNS = 200;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function params(value: unknown): Record<string, unknown> {
  return isObject(value) ? value : {};
}

/**
 * The panel's controls are the palette's commands (so they behave alike and show errors alike);
 * the rest goes to the server as is: the voice list, the status, push to talk held and released
 * (the command can only flip it: VS Code keys have no release).
 */
export function routeFor(method: string, given: unknown): Route | undefined {
  const p = params(given);
  switch (method) {
    case Method.start:
      return { command: "vivavoce.start", args: typeof p.voice === "string" && p.voice ? [{ voice: p.voice }] : [] };
    case Method.stop:
      return { command: "vivavoce.stop", args: [] };
    case Method.toggleMode:
      return { command: "vivavoce.toggleMode", args: [] };
    case Method.mute:
      return { command: "vivavoce.mute", args: [] };
    case Method.interrupt:
      return { command: "vivavoce.interrupt", args: [] };
    case Method.sendText:
      return typeof p.text === "string" && p.text ? { command: "vivavoce.sendText", args: [p.text] } : undefined;
    case Method.status:
    case Method.pushToTalk:
    case "realtime/voices":
      return { request: method, params: p };
    default:
      return undefined;
  }
}

function errorMessage(error: unknown): string {
  const message = isObject(error) && typeof error.message === "string" ? error.message : String(error);
  return message.split("\n", 1)[0] ?? message;
}

export class PanelBridge {
  private post: ((message: ToPanel) => unknown) | undefined;
  private ready = false;
  /** What the panel shows, in the order it came: each turn (by item id) and each shown code. */
  private readonly turns = new Map<string, { method: string; params: TranscriptUpdate | ShownCode }>();

  constructor(private readonly host: PanelHost) {}

  /** A webview appeared (or was made again): it gets messages once it says it is ready. */
  open(post: (message: ToPanel) => unknown): void {
    this.post = post;
    this.ready = false;
  }

  /** The webview is gone. */
  close(): void {
    this.post = undefined;
    this.ready = false;
  }

  status(status: Status): void {
    this.send({ type: "notification", method: Method.status, params: status });
  }

  transcript(update: TranscriptUpdate): void {
    this.remember(update);
    this.send({ type: "notification", method: Method.transcript, params: update });
  }

  /** Code the assistant shows: a block with an Insert button, in its place among the turns. */
  code(shown: ShownCode): void {
    this.keep(`code:${shown.id}`, Method.code, shown);
    this.send({ type: "notification", method: Method.code, params: shown });
  }

  /** A message from the webview (anything else is ignored: it is the webview's word). */
  async receive(message: unknown): Promise<void> {
    if (!isObject(message)) return;
    if (message.type === "ready") {
      this.ready = true;
      for (const { method, params } of this.turns.values()) {
        this.send({ type: "notification", method, params });
      }
      this.status(this.host.status());
    } else if (message.type === "request" && typeof message.id === "number" && typeof message.method === "string") {
      await this.answer(message.id, message.method, message.params);
    } else if (message.type === "insert" && typeof message.text === "string") {
      await this.host.insert(message.text);
    }
  }

  private async answer(id: number, method: string, given: unknown): Promise<void> {
    const route = routeFor(method, given);
    if (!route) {
      this.reply({ type: "response", id, error: `the panel cannot ask for ${method}` });
      return;
    }
    try {
      if ("command" in route) {
        await this.host.command(route.command, route.args);
        this.reply({ type: "response", id, result: this.host.status() });
      } else if (route.request === Method.status) {
        this.reply({ type: "response", id, result: this.host.status() });
      } else {
        this.reply({ type: "response", id, result: await this.host.request(route.request, route.params) });
      }
    } catch (error) {
      this.reply({ type: "response", id, error: errorMessage(error) });
    }
  }

  /** Each turn's whole text so far, in the order they came, for a panel that opens later. */
  private remember(update: TranscriptUpdate): void {
    const before = this.turns.get(update.itemId)?.params as TranscriptUpdate | undefined;
    const text = update.final || update.text ? update.text : (before?.text ?? "") + (update.delta ?? "");
    const turn: TranscriptUpdate = { ...update, text };
    delete turn.delta;
    this.keep(update.itemId, Method.transcript, turn);
  }

  private keep(key: string, method: string, params: TranscriptUpdate | ShownCode): void {
    this.turns.set(key, { method, params });
    if (this.turns.size > KEPT_TURNS) {
      const oldest = this.turns.keys().next().value;
      if (oldest !== undefined) this.turns.delete(oldest);
    }
  }

  private send(message: ToPanel): void {
    if (this.ready) this.post?.(message);
  }

  /** Answers go out even before "ready": the webview asked, so it is listening. */
  private reply(message: ToPanel): void {
    this.post?.(message);
  }
}

/** The webview's end: requests to the extension, and its answers and notifications back. */
export class PanelClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(
    private readonly post: (message: FromPanel) => void,
    private readonly onNotification: (method: string, params: unknown) => void,
  ) {}

  /** What the web component's attach() calls. */
  request(method: string, params?: unknown): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ type: "request", id, method, params: params ?? {} });
    });
  }

  ready(): void {
    this.post({ type: "ready" });
  }

  insert(text: string): void {
    this.post({ type: "insert", text });
  }

  /** A message from the extension. */
  receive(message: unknown): void {
    if (!isObject(message)) return;
    if (message.type === "response" && typeof message.id === "number") {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (typeof message.error === "string") waiter?.reject(new Error(message.error));
      else waiter?.resolve(message.result);
    } else if (message.type === "notification" && typeof message.method === "string") {
      if (message.method === Method.transcript && !asTranscript(message.params)) return;
      if (message.method === Method.code && !asCode(message.params)) return;
      this.onNotification(message.method, message.params);
    }
  }
}
