/**
 * The conversation panel: a webview view (package.json `contributes.views`) that shows the
 * conversation with the web component's rendering (clients/web/vivavoce-chat.js, copied into
 * dist/ at build time) and the extension's own connection to the server. The messages between
 * the two are core/panel.ts; this file makes the webview and does what it asks.
 */

import { randomBytes } from "node:crypto";

import * as vscode from "vscode";

import { PanelBridge } from "./core/panel";
import type { ShownCode, Status, TranscriptUpdate } from "./core/protocol";
import type { ServerConnection } from "./serverConnection";

export const PANEL_VIEW = "vivavoce.conversation";

/** VS Code's theme, through the web component's CSS custom properties. */
const THEME = `
html, body { height: 100%; margin: 0; padding: 0; }
body { display: flex; }
vivavoce-chat {
  flex: 1; min-height: 0; height: 100%; border: none; border-radius: 0;
  font-family: var(--vscode-font-family); font-size: var(--vscode-font-size);
  --vv-bg: transparent; --vv-fg: var(--vscode-foreground);
  --vv-muted: var(--vscode-descriptionForeground);
  --vv-line: var(--vscode-widget-border, var(--vscode-panel-border, rgba(128, 128, 128, .35)));
  --vv-user: var(--vscode-button-background); --vv-user-fg: var(--vscode-button-foreground);
  --vv-assistant: var(--vscode-editor-inactiveSelectionBackground, var(--vscode-editorWidget-background));
  --vv-tool: var(--vscode-textLink-foreground); --vv-error: var(--vscode-errorForeground);
  --vv-control: var(--vscode-button-secondaryBackground);
  --vv-control-fg: var(--vscode-button-secondaryForeground);
  --vv-input: var(--vscode-input-background); --vv-input-fg: var(--vscode-input-foreground);
  --vv-code-bg: var(--vscode-textCodeBlock-background, var(--vscode-editor-background));
  --vv-code-fg: var(--vscode-editor-foreground); --vv-mono: var(--vscode-editor-font-family);
}`;

export class ConversationPanel implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private readonly bridge: PanelBridge;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    connection: ServerConnection,
  ) {
    this.bridge = new PanelBridge({
      command: (id, args) => Promise.resolve(vscode.commands.executeCommand(id, ...args)),
      request: (method, params) => connection.request(method, params),
      status: () => connection.status,
      insert: (text) => insertAtCursor(text),
    });
  }

  /** Shown now (the transcript channel need not be revealed then). */
  get visible(): boolean {
    return this.view?.visible ?? false;
  }

  status(status: Status): void {
    this.bridge.status(status);
  }

  transcript(update: TranscriptUpdate): void {
    this.bridge.transcript(update);
  }

  code(shown: ShownCode): void {
    this.bridge.code(shown);
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const dist = vscode.Uri.joinPath(this.extensionUri, "dist");
    view.webview.options = { enableScripts: true, localResourceRoots: [dist] };
    this.bridge.open((message) => view.webview.postMessage(message));
    this.disposables.push(
      view.webview.onDidReceiveMessage((message: unknown) => this.bridge.receive(message)),
      view.onDidDispose(() => {
        if (this.view === view) {
          this.view = undefined;
          this.bridge.close();
        }
      }),
    );
    view.webview.html = panelHtml(
      view.webview.cspSource,
      view.webview.asWebviewUri(vscode.Uri.joinPath(dist, "vivavoce-chat.js")).toString(),
      view.webview.asWebviewUri(vscode.Uri.joinPath(dist, "panel.js")).toString(),
    );
  }

  dispose(): void {
    this.bridge.close();
    this.disposables.forEach((d) => { d.dispose(); });
  }
}

/** The webview's page: only its own two scripts may run (nonce), nothing may be fetched. */
export function panelHtml(cspSource: string, chatScript: string, panelScript: string): string {
  const nonce = randomBytes(16).toString("base64");
  const csp = [
    "default-src 'none'",
    `style-src ${cspSource} 'unsafe-inline'`, // the component's shadow DOM <style>
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join("; ");
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <style>${THEME}</style>
</head>
<body>
  <vivavoce-chat></vivavoce-chat>
  <script nonce="${nonce}" src="${chatScript}"></script>
  <script nonce="${nonce}" src="${panelScript}"></script>
</body>
</html>`;
}

async function insertAtCursor(text: string): Promise<void> {
  const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
  if (!editor) {
    void vscode.window.showWarningMessage("vivavoce: open an editor to insert the code into");
    return;
  }
  const done = await editor.edit((edit) => {
    for (const selection of editor.selections) edit.replace(selection, text);
  });
  if (!done) {
    void vscode.window.showWarningMessage("vivavoce: the code could not be inserted");
    return;
  }
  await vscode.window.showTextDocument(editor.document, { viewColumn: editor.viewColumn, preserveFocus: false });
}
