/**
 * A real `vivavoce lsp` process spoken to over vscode-jsonrpc/node, answering the server's
 * requests like VS Code's language client does (configuration, applyEdit, progress).
 * The server comes from VIVAVOCE_SERVER, else the repository's .venv; set VIVAVOCE_TEST_STDERR=1
 * to see its log.
 */

import { type ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";

import { type MessageConnection, StreamMessageReader, StreamMessageWriter, createMessageConnection } from "vscode-jsonrpc/node";

import { type ShownCode, type Status, type TranscriptUpdate, asCode, asStatus, asTranscript } from "../src/core/protocol";

/** clients/vscode (this file runs from out/test/). */
export const PACKAGE_ROOT = path.resolve(__dirname, "..", "..");
export const SERVER = process.env.VIVAVOCE_SERVER ?? path.resolve(PACKAGE_ROOT, "..", "..", ".venv", "bin", "vivavoce");

export interface Edit {
  uri: string;
  line: number;
  character: number;
  text: string;
}

export class Server {
  readonly statuses: Status[] = [];
  readonly transcripts: TranscriptUpdate[] = [];
  readonly codes: ShownCode[] = [];
  readonly edits: Edit[] = [];
  readonly messages: string[] = [];
  /** What workspace/configuration answers (the extension's explicit settings). */
  configuration: Record<string, unknown> = {};
  readonly connection: MessageConnection;
  private readonly process: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor() {
    // The server logs every error response with its traceback on stderr: shown only on request.
    const stderr = process.env.VIVAVOCE_TEST_STDERR ? "inherit" : "ignore";
    this.process = spawn(SERVER, ["lsp"], { stdio: ["pipe", "pipe", stderr] });
    if (!this.process.stdout || !this.process.stdin) {
      throw new Error(`could not start ${SERVER}`);
    }
    this.connection = createMessageConnection(new StreamMessageReader(this.process.stdout), new StreamMessageWriter(this.process.stdin));
    const changed = () => {
      for (const wake of this.waiters) wake();
    };
    this.connection.onNotification("realtime/status", (params: unknown) => {
      const status = asStatus(params);
      if (status) this.statuses.push(status);
      changed();
    });
    this.connection.onNotification("realtime/transcript", (params: unknown) => {
      const update = asTranscript(params);
      if (update) this.transcripts.push(update);
      changed();
    });
    this.connection.onNotification("realtime/code", (params: unknown) => {
      const code = asCode(params);
      if (code) this.codes.push(code);
      changed();
    });
    this.connection.onNotification("window/showMessage", (params: { message: string }) => {
      this.messages.push(params.message);
      changed();
    });
    this.connection.onNotification("window/logMessage", () => undefined);
    this.connection.onNotification("$/progress", () => undefined);
    this.connection.onRequest("window/workDoneProgress/create", () => null);
    this.connection.onRequest("client/registerCapability", () => null);
    this.connection.onRequest("workspace/configuration", (params: { items: unknown[] }) => params.items.map(() => this.configuration));
    this.connection.onRequest("workspace/applyEdit", (params: { edit: { changes: Record<string, { range: { start: { line: number; character: number } }; newText: string }[]> } }) => {
      for (const [uri, edits] of Object.entries(params.edit.changes)) {
        for (const edit of edits) {
          this.edits.push({ uri, ...edit.range.start, text: edit.newText });
        }
      }
      changed();
      return { applied: true };
    });
    this.connection.listen();
  }

  async initialize(initializationOptions: unknown): Promise<{ capabilities: { executeCommandProvider?: { commands: string[] } } }> {
    const result = await this.connection.sendRequest<{ capabilities: { executeCommandProvider?: { commands: string[] } } }>("initialize", {
      processId: process.pid,
      rootUri: null,
      capabilities: {
        workspace: { configuration: true, applyEdit: true, workspaceEdit: { documentChanges: true } },
        window: { workDoneProgress: true, showMessage: {} },
        general: { positionEncodings: ["utf-16"] },
      },
      initializationOptions,
    });
    await this.connection.sendNotification("initialized", {});
    return result;
  }

  /** Resolves when `predicate` holds (checked on every notification or edit). */
  until(predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const wake = () => {
        if (predicate()) {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(wake);
    });
  }

  /** shutdown + exit; resolves with the exit code (killed after 10 s). */
  async close(): Promise<number | null> {
    if (this.process.exitCode !== null) return this.process.exitCode;
    const exited = new Promise<number | null>((resolve) => {
      this.process.once("exit", resolve);
    });
    const timer = setTimeout(() => {
      this.process.kill();
    }, 10_000);
    await this.connection.sendRequest("shutdown").catch(() => undefined);
    await this.connection.sendNotification("exit").catch(() => undefined);
    const code = await exited;
    clearTimeout(timer);
    this.connection.dispose();
    return code;
  }
}
