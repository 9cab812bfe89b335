/**
 * The wire contract with `vivavoce lsp` (docs: DESIGN.md, "Wire contract"): method names and the
 * shapes of status and transcript notifications. No `vscode` import: tests use it directly.
 */

/** `listening`: no call is open; the microphone is listened to on this machine for the wake word. */
export type State = "idle" | "listening" | "connecting" | "live" | "reconnecting" | "closing" | "error";
export type Mode = "realtime" | "text" | "dictation";
/** "tool": a line about a voice tool the assistant used (only ever a final, never deltas). */
export type Role = "user" | "assistant" | "tool";
/**
 * What the microphone is doing: "live" = a realtime call is open and the microphone streams to
 * it, billed by the minute (the only LIVE); "dictating" = text mode's push to talk records a turn,
 * transcribed on release; "off" = neither (text mode's spoken replies use a call of their own
 * that sends no microphone).
 */
export type AudioUse = "live" | "dictating" | "wake" | "off";

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

/** `realtime/status`: sent on every change and returned by most requests. */
export interface Status {
  state: State;
  mode: Mode;
  voice: string;
  model: string;
  muted: boolean;
  /** True while the push-to-talk key is held (pressed and not yet released). */
  pushToTalk: boolean;
  /** Microphone level in dBFS. */
  inputLevel: number;
  /** Microphone blocks (20 ms each) lost because the server fell behind (absent: older server). */
  inputDropped?: number;
  /** Why the microphone/speaker are not in use (the conversation goes on without them). */
  audioError?: string | null;
  callId: string | null;
  /** What the microphone is doing (absent: older server; see {@link audioUse}). */
  audio?: AudioUse;
  error?: string | null;
  /** What the conversation has cost so far (absent or null until something was billed). */
  usage?: Usage | null;
  /** Set (seconds) when the server hung up a silent call: the next push to talk or typed text calls again. */
  hungUpAfter?: number | null;
}

/** `realtime/status` `usage`: the conversation's totals, priced by the server's table. */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  audioInputSeconds: number;
  audioOutputSeconds: number;
  costUsd: number;
  /** The current call's part of costUsd. */
  callCostUsd?: number;
  /** Some usage came from a model with no known price: the cost is a lower bound. */
  unpriced?: boolean;
}

/** `realtime/transcript`: deltas stream as they arrive; the final one carries the whole text. */
export interface TranscriptUpdate {
  itemId: string;
  previousItemId: string | null;
  role: Role;
  text: string;
  delta?: string;
  final: boolean;
  interrupted?: boolean;
}

/** `realtime/context`: where the user works, so the server knows where to insert. */
export interface ContextParams {
  textDocument: { uri: string };
  position?: Position;
  selection?: Range;
}

export const Method = {
  start: "realtime/start",
  stop: "realtime/stop",
  toggleMode: "realtime/toggleMode",
  status: "realtime/status",
  sendText: "realtime/sendText",
  pushToTalk: "realtime/pushToTalk",
  mute: "realtime/mute",
  interrupt: "realtime/interrupt",
  context: "realtime/context",
  transcript: "realtime/transcript",
  code: "realtime/code",
  insertCode: "realtime/insertCode",
} as const;

/** `realtime/code`: code the assistant shows instead of reading it aloud. */
export interface ShownCode {
  id: string;
  language: string;
  code: string;
  title?: string;
}

/** A shown piece of code from the wire, or undefined. */
export function asCode(value: unknown): ShownCode | undefined {
  if (!isObject(value) || typeof value.id !== "string" || typeof value.code !== "string") {
    return undefined;
  }
  const language = typeof value.language === "string" ? value.language : "";
  const title = typeof value.title === "string" && value.title ? value.title : undefined;
  return { id: value.id, language, code: value.code, ...(title ? { title } : {}) };
}

/** What a model calls a language → VS Code's language id (others are taken as they are). */
const LANGUAGE_IDS: Record<string, string> = {
  js: "javascript", jsx: "javascriptreact", ts: "typescript", tsx: "typescriptreact", py: "python",
  python3: "python", sh: "shellscript", bash: "shellscript", shell: "shellscript", zsh: "shellscript",
  "c++": "cpp", "c#": "csharp", cs: "csharp", rs: "rust", golang: "go", yml: "yaml", md: "markdown",
  rb: "ruby", kt: "kotlin", "": "plaintext", text: "plaintext",
};

export function languageId(language: string): string {
  const name = language.trim().toLowerCase();
  return LANGUAGE_IDS[name] ?? name;
}

/** Commands only reachable through `workspace/executeCommand` (newer servers). */
export const ServerCommand = {
  listDevices: "vivavoce.listDevices",
  selectDevice: "vivavoce.selectDevice",
  openHistory: "vivavoce.openHistory",
  voices: "vivavoce.voices",
} as const;

export const IDLE: Status = {
  state: "idle",
  mode: "realtime",
  voice: "",
  model: "",
  muted: false,
  pushToTalk: false,
  inputLevel: 0,
  callId: null,
};

const STATES: readonly string[] = [
  "idle",
  "listening",
  "connecting",
  "live",
  "reconnecting",
  "closing",
  "error",
];
const ROLES: readonly string[] = ["user", "assistant", "tool"];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A status from the wire, or undefined when it is not one (a client must not crash on junk). */
export function asStatus(value: unknown): Status | undefined {
  if (!isObject(value) || typeof value.state !== "string" || !STATES.includes(value.state)) {
    return undefined;
  }
  return {
    ...IDLE,
    ...value,
    mode: value.mode === "text" || value.mode === "dictation" ? value.mode : "realtime",
  };
}

/** What the microphone is doing: the server's `audio`, or the same rule for an older server. */
export function audioUse(status: Status): AudioUse {
  if (
    status.audio === "live" ||
    status.audio === "dictating" ||
    status.audio === "wake" ||
    status.audio === "off"
  ) {
    return status.audio;
  }
  if (status.state === "listening") {
    return "wake";
  }
  if (status.mode === "text") {
    return status.pushToTalk ? "dictating" : "off";
  }
  return status.state === "live" ? "live" : "off";
}

/** A transcript update from the wire, or undefined. */
export function asTranscript(value: unknown): TranscriptUpdate | undefined {
  if (
    !isObject(value) ||
    typeof value.itemId !== "string" ||
    typeof value.text !== "string" ||
    typeof value.final !== "boolean" ||
    typeof value.role !== "string" ||
    !ROLES.includes(value.role)
  ) {
    return undefined;
  }
  return value as unknown as TranscriptUpdate;
}
