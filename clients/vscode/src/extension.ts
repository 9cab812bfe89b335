/**
 * Entry point: a thin client for `vivavoce lsp`. It starts the server, maps palette commands to
 * requests, shows one status bar item and the transcript, and sends the cursor position.
 */

import * as vscode from "vscode";

import { registerCommands } from "./commands";
import { Conversation, type SettingProperties } from "./conversation";
import { StatusBar, TranscriptChannel } from "./views";

let conversation: Conversation | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<Conversation> {
  const packageJSON = context.extension.packageJSON as { contributes?: { configuration?: { properties?: SettingProperties } } };
  const output = vscode.window.createOutputChannel("vivavoce", { log: true });
  const statusBar = new StatusBar();
  const transcript = new TranscriptChannel();
  conversation = new Conversation(packageJSON.contributes?.configuration?.properties ?? {}, output, statusBar, transcript);
  const current = conversation;
  context.subscriptions.push(
    output,
    statusBar,
    transcript,
    current,
    ...registerCommands(current),
    vscode.window.onDidChangeTextEditorSelection((event) => { current.selectionChanged(event.textEditor); }),
    vscode.workspace.onDidChangeConfiguration((event) => { current.settingsChanged(event); }),
  );
  await current.startServer();
  return current;
}

export async function deactivate(): Promise<void> {
  await conversation?.stopServer();
  conversation = undefined;
}
