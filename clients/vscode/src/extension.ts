/**
 * Entry point: a thin client for `vivavoce lsp`. It starts the server, maps palette commands to
 * requests, shows one status bar item and the transcript, and sends the cursor position.
 */

import * as vscode from "vscode";

import { CodeViews } from "./code";
import { registerCommands } from "./commands";
import { ConversationPanel, PANEL_VIEW } from "./panel";
import { ServerConnection, type SettingProperties } from "./serverConnection";
import { StatusBar, TranscriptChannel } from "./views";

let connection: ServerConnection | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<ServerConnection> {
  const packageJSON = context.extension.packageJSON as { contributes?: { configuration?: { properties?: SettingProperties } } };
  const output = vscode.window.createOutputChannel("vivavoce", { log: true });
  const statusBar = new StatusBar();
  const transcript = new TranscriptChannel();
  connection = new ServerConnection(packageJSON.contributes?.configuration?.properties ?? {}, output, statusBar, transcript);
  const current = connection;
  const panel = new ConversationPanel(context.extensionUri, current);
  const code = new CodeViews(current);
  current.conversationShown = () => panel.visible;
  context.subscriptions.push(
    output,
    statusBar,
    transcript,
    current,
    panel,
    vscode.window.registerWebviewViewProvider(PANEL_VIEW, panel),
    current.onDidChangeStatus((status) => { panel.status(status); }),
    current.onTranscript((update) => { panel.transcript(update); }),
    current.onCode((shown) => { panel.code(shown); void code.show(shown); }),
    ...registerCommands(current, code),
    vscode.window.onDidChangeTextEditorSelection((event) => { current.selectionChanged(event.textEditor); }),
    vscode.workspace.onDidChangeConfiguration((event) => { current.settingsChanged(event); }),
  );
  await current.startServer();
  return current;
}

export async function deactivate(): Promise<void> {
  await connection?.stopServer();
  connection = undefined;
}
