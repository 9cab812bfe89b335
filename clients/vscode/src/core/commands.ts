/**
 * Palette command → language-server request. The extension keeps no state of its own: toggles
 * (mute, push to talk) read the last status the server sent. No `vscode` import.
 */

import { Method, type Position, type Status } from "./protocol";

/** Where the user is when a command runs (the active editor), if anywhere. */
export interface EditorContext {
  uri: string;
  position: Position;
}

/** Commands that are exactly one `realtime/*` request. */
export type RequestCommand =
  | "start"
  | "dictate"
  | "stop"
  | "toggleMode"
  | "pushToTalk"
  | "mute"
  | "interrupt"
  | "sendText";

export interface Request {
  method: string;
  /**
   * Always an object: vscode-jsonrpc sends a missing params as `[null]` (rejected) or omits the
   * member, and the server (pygls) drops a custom request without `params` unanswered.
   */
  params: Record<string, unknown>;
}

/** Every command id the extension registers (package.json `contributes.commands`). */
export const EXTENSION_COMMANDS: readonly string[] = [
  "vivavoce.start",
  "vivavoce.stop",
  "vivavoce.dictate",
  "vivavoce.toggleMode",
  "vivavoce.pushToTalk",
  "vivavoce.mute",
  "vivavoce.interrupt",
  "vivavoce.sendText",
  "vivavoce.selectMicrophone",
  "vivavoce.selectSpeaker",
  "vivavoce.showTranscript",
  "vivavoce.openHistory",
  "vivavoce.restartServer",
  "vivavoce.toggleConversation",
  "vivavoce.showPanel",
  "vivavoce.selectVoice",
  "vivavoce.insertCode",
];

/** `realtime/insertCode`: the last code shown (or the one `id` names) at the user's cursor. */
export function insertCodeRequest(editor?: EditorContext, id?: string): Request {
  return {
    method: Method.insertCode,
    params: {
      ...(id ? { id } : {}),
      ...(editor ? { textDocument: { uri: editor.uri }, position: editor.position } : {}),
    },
  };
}

/**
 * The request for a command. `start` tells the server the active editor and cursor: replies are
 * inserted there when the insertTranscripts setting asks for it (through workspace/applyEdit),
 * and the voice the user picked, if any.
 */
export function requestFor(
  command: RequestCommand,
  status: Status,
  editor?: EditorContext,
  text?: string,
  voice?: string,
): Request {
  switch (command) {
    case "start":
      return {
        method: Method.start,
        params: {
          ...(editor ? { textDocument: { uri: editor.uri }, position: editor.position } : {}),
          ...(voice ? { voice } : {}),
        },
      };
    case "dictate": {
      // A toggle: dictation on (at the cursor) or, while it runs, off.
      const on = status.mode === "dictation" && (status.state === "live" || status.state === "connecting");
      if (on) return { method: Method.stop, params: {} };
      const at = editor ? { textDocument: { uri: editor.uri }, position: editor.position } : {};
      return { method: Method.start, params: { mode: "dictation", ...at } };
    }
    case "pushToTalk":
      // VS Code has no key-up event: each press flips between "talking" and "done".
      return { method: Method.pushToTalk, params: { pressed: !status.pushToTalk } };
    case "mute":
      return { method: Method.mute, params: { muted: !status.muted } };
    case "sendText":
      return { method: Method.sendText, params: { text: text ?? "" } };
    case "stop":
    case "toggleMode":
    case "interrupt":
      return { method: Method[command], params: {} };
  }
}

/** The status bar click: start when no call is open (listening for the wake word included),
 * stop otherwise. */
export function toggleConversation(status: Status): "start" | "stop" {
  const open = !["idle", "error", "listening"].includes(status.state);
  return open ? "stop" : "start";
}

/** Is the server in a state where a command needs a call? Used for friendlier messages. */
export function needsCall(command: RequestCommand): boolean {
  return command === "pushToTalk" || command === "interrupt" || command === "sendText";
}

interface ErrorLike {
  code?: unknown;
  message?: unknown;
}

const METHOD_NOT_FOUND = -32601;

/**
 * True when the server does not know a command (an older server): the caller falls back.
 * pygls answers InvalidParams "Command name 'x' is not defined"; others use MethodNotFound.
 */
export function isUnknownCommand(error: unknown, command: string): boolean {
  const { code, message } = (error ?? {}) as ErrorLike;
  if (code === METHOD_NOT_FOUND) {
    return true;
  }
  const text = typeof message === "string" ? message : "";
  return text.includes(command) && /not (defined|found|registered|supported)|unknown|no such/i.test(text);
}

/** One line for the user: the server's message, never a stack. */
export function errorText(error: unknown): string {
  const { message } = (error ?? {}) as ErrorLike;
  const text = typeof message === "string" ? message : String(error);
  return text.split("\n", 1)[0] ?? text;
}
