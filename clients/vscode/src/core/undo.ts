/**
 * One undo step per dictated utterance (vscode-free). The server writes an utterance as it is
 * said: its words one workspace edit at a time, then its final text over them. The extension
 * announces the experimental client capability `vivavoceUndoGroups`; the server then labels
 * each such edit `vivavoce undo group <id>`, and the edits of one group are applied without an
 * undo stop between them, as long as nothing else changed the document in between.
 */

/** The client capability announced to the server (UNDO_GROUPS in lsp/server.py). */
export const UNDO_GROUPS_CAPABILITY = "vivavoceUndoGroups";
/** The label prefix of a grouped edit (UNDO_GROUP_LABEL in lsp/server.py). */
export const UNDO_GROUP_LABEL = "vivavoce undo group ";

/** The undo group an edit's label names, or undefined (an edit of its own). */
export function undoGroupOf(label: string | undefined | null): string | undefined {
  return typeof label === "string" && label.startsWith(UNDO_GROUP_LABEL) ? label : undefined;
}

/** Remembers the group of the last grouped edit and the document version after it. */
export class UndoGroups {
  private last: { group: string; uri: string; version: number } | undefined;

  /** Whether an edit of `group` to `uri` (now at `version`) joins the last edit's undo step. */
  joins(group: string, uri: string, version: number): boolean {
    const last = this.last;
    return last !== undefined && last.group === group && last.uri === uri && last.version === version;
  }

  /** An edit of `group` was applied; `uri` is at `version` after it (undefined: not applied). */
  applied(group: string, uri: string, version: number | undefined): void {
    this.last = version === undefined ? undefined : { group, uri, version };
  }
}
