/**
 * The window's connection to the vivavoce language server: the language client (made in
 * client.ts), the last status the server sent, and the plumbing between them and the views
 * (status bar, transcript), the cursor (realtime/context) and the settings
 * (didChangeConfiguration with only what the user set). The conversation itself is the server's.
 */

import * as vscode from "vscode";
import { DidChangeConfigurationNotification, ExecuteCommandRequest, type LanguageClient, State } from "vscode-languageclient/node";

import { createClient } from "./client";
import { type EditorContext, type RequestCommand, errorText, requestFor } from "./core/commands";
import { type ContextParams, IDLE, Method, type ShownCode, type Status, type TranscriptUpdate, asCode, asStatus, asTranscript } from "./core/protocol";
import { type Flat, SECTION, explicitSettings, settingsChange } from "./core/settings";
import type { StatusBar, TranscriptChannel } from "./views";

/** Cursor moves are sent this long after the last one. */
const CONTEXT_DEBOUNCE_MS = 300;
const SYNCED_SCHEMES = new Set(["file", "untitled"]);

/** `contributes.configuration.properties` of package.json: setting keys and their defaults. */
export type SettingProperties = Record<string, { default?: unknown }>;

export class ServerConnection implements vscode.Disposable {
  status: Status = IDLE;
  /** Is the conversation panel on screen? Then starting a call does not reveal the transcript channel. */
  conversationShown: () => boolean = () => false;
  private readonly statusChanged = new vscode.EventEmitter<Status>();
  private readonly transcribed = new vscode.EventEmitter<TranscriptUpdate>();
  private readonly codeShown = new vscode.EventEmitter<ShownCode>();
  /** Every status: sent by the server, returned by a request, or idle when the server stops. */
  readonly onDidChangeStatus = this.statusChanged.event;
  /** Every transcript update the server sends. */
  readonly onTranscript = this.transcribed.event;
  /** Code the assistant shows (`realtime/code`). */
  readonly onCode = this.codeShown.event;
  private client: LanguageClient | undefined;
  private sent: Flat = {};
  private contextTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly keys: string[];
  private readonly defaults: Flat;

  constructor(
    properties: SettingProperties,
    private readonly output: vscode.LogOutputChannel,
    private readonly statusBar: StatusBar,
    private readonly transcript: TranscriptChannel,
  ) {
    const prefix = `${SECTION}.`;
    this.keys = Object.keys(properties).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
    this.defaults = Object.fromEntries(this.keys.map((k) => [k, properties[prefix + k]?.default]));
    this.statusBar.show(this.status, false);
  }

  get running(): boolean {
    return this.client?.state === State.Running;
  }

  /** What the user set in VS Code, for the server. */
  explicit(): Flat {
    const config = vscode.workspace.getConfiguration(SECTION);
    return explicitSettings(Object.fromEntries(this.keys.map((k) => [k, config.inspect(k)])));
  }

  async startServer(): Promise<boolean> {
    if (this.client) {
      return this.running;
    }
    const client = createClient(this.output, () => (this.sent = this.explicit()));
    this.client = client;
    client.onDidChangeState(() => { this.statusBar.show(this.status, this.running); });
    client.onNotification(Method.status, (params: unknown) => { this.setStatus(asStatus(params)); });
    client.onNotification(Method.transcript, (params: unknown) => {
      const update = asTranscript(params);
      if (update) {
        this.transcript.add(update);
        this.transcribed.fire(update);
      }
    });
    client.onNotification(Method.code, (params: unknown) => {
      const code = asCode(params);
      if (code) this.codeShown.fire(code);
    });
    try {
      await client.start();
    } catch (error) {
      this.output.error(`could not start the server: ${errorText(error)}`);
      void this.explainStartFailure(error);
      return false;
    }
    this.setStatus(asStatus(await client.sendRequest(Method.status, {}).catch(() => undefined)));
    return true;
  }

  async restartServer(): Promise<void> {
    await this.stopServer();
    await this.startServer();
  }

  async stopServer(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.status = IDLE;
    this.statusBar.show(this.status, false);
    this.statusChanged.fire(this.status);
    if (client) {
      await client.dispose(2000).catch((error: unknown) => { this.output.warn(`stopping the server: ${errorText(error)}`); });
    }
  }

  /** Run one `realtime/*` request for a palette command; errors are shown, never thrown. */
  async run(command: RequestCommand, text?: string, voice?: string): Promise<unknown> {
    if (!(await this.startServer()) || !this.client) {
      return undefined;
    }
    const { method, params } = requestFor(command, this.status, activeEditor(), text, voice);
    try {
      const result = await this.client.sendRequest(method, params);
      this.setStatus(asStatus(result));
      return result;
    } catch (error) {
      void vscode.window.showErrorMessage(`vivavoce: ${errorText(error)}`);
      return undefined;
    }
  }

  /** Any request (the conversation panel's voice list, push to talk); throws the server's error. */
  async request(method: string, params: Record<string, unknown>): Promise<unknown> {
    if (!(await this.startServer()) || !this.client) {
      throw new Error("the vivavoce server is not running");
    }
    const result: unknown = await this.client.sendRequest(method, params);
    this.setStatus(asStatus(result));
    return result;
  }

  /** `workspace/executeCommand` for commands only newer servers have; throws the server's error. */
  async executeServerCommand(command: string, args: unknown[] = []): Promise<unknown> {
    if (!(await this.startServer()) || !this.client) {
      throw new Error("the vivavoce server is not running");
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  /** The cursor moved: tell the server (debounced) where the user works. */
  selectionChanged(editor: vscode.TextEditor): void {
    clearTimeout(this.contextTimer);
    this.contextTimer = setTimeout(() => {
      const params = contextParams(editor);
      if (params && this.running) {
        void this.client?.sendNotification(Method.context, params).catch(() => undefined);
      }
    }, CONTEXT_DEBOUNCE_MS);
  }

  settingsChanged(event: vscode.ConfigurationChangeEvent): void {
    if (event.affectsConfiguration(`${SECTION}.server`)) {
      void vscode.window
        .showInformationMessage("vivavoce: the server command changed.", "Restart Server")
        .then((choice) => (choice ? this.restartServer() : undefined));
      return;
    }
    if (!event.affectsConfiguration(SECTION) || !this.running || !this.client) {
      return;
    }
    const current = this.explicit();
    const settings = settingsChange(this.sent, current, this.defaults);
    this.sent = current;
    void this.client.sendNotification(DidChangeConfigurationNotification.type, { settings }).catch(() => undefined);
  }

  revealTranscript(): void {
    if (!this.conversationShown()) this.transcript.reveal();
  }

  dispose(): void {
    clearTimeout(this.contextTimer);
    this.statusChanged.dispose();
    this.transcribed.dispose();
    this.codeShown.dispose();
    void this.stopServer();
  }

  private setStatus(status: Status | undefined): void {
    if (!status) {
      return;
    }
    const before = this.status;
    this.status = status;
    this.statusBar.show(status, this.running);
    this.statusChanged.fire(status);
    if (status.state === "live" && (before.state !== "live" || before.mode !== status.mode)) {
      const about = [status.model, status.voice].filter((s) => s).join(", ");
      this.transcript.note(`— live, ${status.mode === "text" ? "text" : "voice"} mode${about ? ` (${about})` : ""} —`);
    } else if (status.state !== "live" && before.state === "live") {
      this.transcript.note(status.state === "error" ? `— ended: ${status.error ?? "error"} —` : "— ended —");
    }
  }

  private async explainStartFailure(error: unknown): Promise<void> {
    const choice = await vscode.window.showErrorMessage(
      `vivavoce: could not start the language server (${errorText(error)}). ` +
        "Install it (pip install vivavoce) or set vivavoce.server.command.",
      "Open Settings",
      "Show Log",
    );
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", `${SECTION}.server.command`);
    } else if (choice === "Show Log") {
      this.output.show();
    }
  }
}

function activeEditor(): EditorContext | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !SYNCED_SCHEMES.has(editor.document.uri.scheme)) {
    return undefined;
  }
  const { line, character } = editor.selection.active;
  return { uri: editor.document.uri.toString(), position: { line, character } };
}

function contextParams(editor: vscode.TextEditor): ContextParams | undefined {
  if (!SYNCED_SCHEMES.has(editor.document.uri.scheme)) {
    return undefined;
  }
  const { active, start, end } = editor.selection;
  return {
    textDocument: { uri: editor.document.uri.toString() },
    position: { line: active.line, character: active.character },
    selection: { start: { line: start.line, character: start.character }, end: { line: end.line, character: end.character } },
  };
}
