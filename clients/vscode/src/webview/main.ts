/**
 * The conversation panel's script, inside the webview (bundled by esbuild into dist/panel.js).
 * The rendering is the web component's own (clients/web/vivavoce-chat.js, loaded just before
 * this as dist/vivavoce-chat.js): this only attaches it to the extension, which runs the server.
 */

import { PanelClient } from "../core/panel";

// The few browser globals used here (the extension's tsconfig has no DOM library).
declare function acquireVsCodeApi(): { postMessage(message: unknown): void };
declare const window: { addEventListener(type: "message", listener: (event: { data: unknown }) => void): void };
declare const document: { querySelector(selector: string): Chat | null };

interface Chat {
  attach(host: { request(method: string, params?: unknown): Promise<unknown> }): Promise<void>;
  notify(method: string, params: unknown): void;
  addEventListener(type: "insert", listener: (event: { detail: { code: string }; preventDefault(): void }) => void): void;
}

const vscode = acquireVsCodeApi();
const chat = document.querySelector("vivavoce-chat");
if (chat) {
  const client = new PanelClient(
    (message) => { vscode.postMessage(message); },
    (method, params) => { chat.notify(method, params); },
  );
  window.addEventListener("message", (event) => { client.receive(event.data); });
  chat.addEventListener("insert", (event) => {
    event.preventDefault(); // the extension inserts it at the cursor (instead of copying)
    client.insert(event.detail.code);
  });
  client.ready();
  void chat.attach(client);
}
