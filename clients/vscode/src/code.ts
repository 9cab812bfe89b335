/**
 * Code the assistant shows instead of reading it aloud (`realtime/code`): an untitled document in
 * that language opens beside the editor, keeping the focus where the user works. "Insert Code"
 * asks the server to insert the last one (or a given id) at the cursor of the user's editor,
 * never into a shown code document.
 */

import * as vscode from "vscode";

import { type EditorContext, errorText, insertCodeRequest } from "./core/commands";
import { type ShownCode, languageId } from "./core/protocol";
import type { ServerConnection } from "./serverConnection";

const SYNCED_SCHEMES = new Set(["file", "untitled"]);

export class CodeViews {
  /** The documents showing code (URIs), which Insert Code never inserts into. */
  private readonly shown = new Set<string>();

  constructor(private readonly connection: ServerConnection) {}

  async show(code: ShownCode): Promise<void> {
    const doc = await vscode.workspace.openTextDocument({ language: languageId(code.language), content: code.code });
    this.shown.add(doc.uri.toString());
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true, preview: false });
  }

  /** Where code goes: the active editor's cursor, or the visible editor the user worked in. */
  target(): EditorContext | undefined {
    const editors = [vscode.window.activeTextEditor, ...vscode.window.visibleTextEditors];
    for (const editor of editors) {
      const uri = editor?.document.uri;
      if (editor && uri && SYNCED_SCHEMES.has(uri.scheme) && !this.shown.has(uri.toString())) {
        const { line, character } = editor.selection.active;
        return { uri: uri.toString(), position: { line, character } };
      }
    }
    return undefined;
  }

  async insert(id?: unknown): Promise<void> {
    const { method, params } = insertCodeRequest(this.target(), typeof id === "string" ? id : undefined);
    try {
      const result = (await this.connection.request(method, params)) as { inserted?: boolean; reason?: string } | undefined;
      if (result?.inserted === false) {
        void vscode.window.showWarningMessage(`vivavoce: the code was not inserted: ${result.reason ?? "refused"}`);
      }
    } catch (error) {
      void vscode.window.showErrorMessage(`vivavoce: ${errorText(error)}`);
    }
  }
}
