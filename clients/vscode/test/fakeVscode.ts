/**
 * A fake `vscode` module for the activate() smoke test: jest-mock-vscode's API (with node:test's
 * mock functions), plus what it leaves as bare stubs and the extension or the language client
 * touch: events return disposables, commands run their handlers, output channels record text.
 * `require("vscode")` returns it once installed.
 */

import Module from "node:module";
import { mock } from "node:test";

import { createVSCodeMock } from "jest-mock-vscode";

const disposable = { dispose: () => undefined };

/** An output channel that keeps what was written. */
export class FakeChannel {
  text = "";
  logLevel = 2;
  readonly onDidChangeLogLevel = () => disposable;
  constructor(readonly name: string) {}
  append(value: string): void {
    this.text += value;
  }
  appendLine(value: string): void {
    this.text += `${value}\n`;
  }
  replace(value: string): void {
    this.text = value;
  }
  clear(): void {
    this.text = "";
  }
  show(): void {}
  hide(): void {}
  dispose(): void {}
  trace(message: string): void {
    this.appendLine(`[trace] ${message}`);
  }
  debug(message: string): void {
    this.appendLine(`[debug] ${message}`);
  }
  info(message: string): void {
    this.appendLine(`[info] ${message}`);
  }
  warn(message: string): void {
    this.appendLine(`[warn] ${message}`);
  }
  error(message: unknown): void {
    this.appendLine(`[error] ${String(message)}`);
  }
}

export interface Fake {
  vscode: Record<string, any>;
  commands: Map<string, (...args: unknown[]) => unknown>;
  contexts: Map<string, unknown>;
  channels: Map<string, FakeChannel>;
  /** Webview view providers by view id (registerWebviewViewProvider). */
  views: Map<string, unknown>;
  errors: string[];
  /** Documents shown with window.showTextDocument: language, text and the options given. */
  shown: { language: string; text: string; options: Record<string, unknown> | undefined }[];
  /** Run a command as the palette or a keybinding would. */
  run(id: string, ...args: unknown[]): Promise<unknown>;
  /** A user setting under `vivavoce.`. */
  configure(key: string, value: unknown): Promise<void>;
  /** The text of the (first) status bar item. */
  statusBar(): { text: string; command: string };
}

function stubEvents(api: Record<string, unknown>): void {
  for (const name of Object.keys(api)) {
    if (/^on(Did|Will)/.test(name)) {
      api[name] = () => disposable;
    }
  }
}

export function installFakeVscode(): Fake {
  const vscode = createVSCodeMock({ fn: (impl?: (...args: any[]) => any) => mock.fn(impl) }) as Record<string, any>;
  const fake: Fake = {
    vscode,
    commands: new Map(),
    contexts: new Map(),
    channels: new Map(),
    views: new Map(),
    errors: [],
    shown: [],
    run: (id, ...args) => vscode.commands.executeCommand(id, ...args),
    configure: (key, value) => vscode.workspace.getConfiguration("vivavoce").update(key, value, vscode.ConfigurationTarget.Global),
    statusBar: () => vscode.window.createStatusBarItem.mock.calls[0]?.result ?? { text: "", command: "" },
  };
  stubEvents(vscode.window);
  stubEvents(vscode.workspace);
  vscode.version = "1.91.0";
  vscode.env ??= { appName: "Visual Studio Code", language: "en", machineId: "test", sessionId: "test", uiKind: 1 };
  vscode.workspace.textDocuments = [];
  vscode.commands.registerCommand = (id: string, handler: (...args: unknown[]) => unknown) => {
    if (fake.commands.has(id)) throw new Error(`command '${id}' already exists`);
    fake.commands.set(id, handler);
    return { dispose: () => fake.commands.delete(id) };
  };
  vscode.commands.executeCommand = (id: string, ...args: unknown[]) => {
    if (id === "setContext") {
      fake.contexts.set(String(args[0]), args[1]);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(fake.commands.get(id)?.(...args));
  };
  vscode.window.createOutputChannel = (name: string) => {
    const channel = new FakeChannel(name);
    fake.channels.set(name, channel);
    return channel;
  };
  vscode.window.registerWebviewViewProvider = (id: string, provider: unknown) => {
    fake.views.set(id, provider);
    return { dispose: () => fake.views.delete(id) };
  };
  const showTextDocument = vscode.window.showTextDocument as (...args: unknown[]) => Promise<unknown>;
  vscode.window.showTextDocument = (doc: { languageId: string; getText(): string }, options?: Record<string, unknown>) => {
    fake.shown.push({ language: doc.languageId, text: doc.getText(), options });
    return showTextDocument(doc, options);
  };
  vscode.window.showErrorMessage = (message: string) => {
    fake.errors.push(message);
    return Promise.resolve(undefined);
  };
  // The language client subclasses these at load time; the mock lacks some of them.
  for (const name of ["CallHierarchyItem", "CodeLens", "CompletionItem", "DocumentLink", "InlayHint", "SymbolInformation", "TypeHierarchyItem", "CodeAction", "Diagnostic", "CancellationError"]) {
    vscode[name] ??= class {};
  }
  const load = (Module as unknown as { _load: (...args: unknown[]) => unknown })._load;
  (Module as unknown as { _load: (...args: unknown[]) => unknown })._load = function (request: unknown, ...rest: unknown[]) {
    return request === "vscode" ? vscode : load.call(this, request, ...rest);
  };
  return fake;
}
