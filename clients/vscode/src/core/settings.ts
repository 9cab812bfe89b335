/**
 * VS Code settings → what the server receives. Only values the user set are sent (in
 * initializationOptions, workspace/configuration and didChangeConfiguration): the server has the
 * same defaults, and sending defaults would override its environment (OPENAI_API_KEY, VIVAVOCE_*).
 * Client-only keys (`server.*`, `trace.*`) never reach it. No `vscode` import.
 */

export const SECTION = "vivavoce";

/** Keys under `vivavoce.` that configure the extension, not the server. */
const CLIENT_ONLY = ["server.", "trace."];

/** Never sent as a default when the user clears it: the server's environment may hold the key. */
const KEEP_ON_REVERT = new Set(["apiKey"]);

export const DEFAULT_SERVER_COMMAND: readonly string[] = ["vivavoce", "lsp"];

/** What `WorkspaceConfiguration.inspect` reports for one key (the parts used here). */
export interface Inspected {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

export type Flat = Record<string, unknown>;

export function isServerKey(key: string): boolean {
  return !CLIENT_ONLY.some((prefix) => key.startsWith(prefix));
}

/** The values the user set (folder over workspace over user settings), server keys only. */
export function explicitSettings(inspected: Record<string, Inspected | undefined>): Flat {
  const out: Flat = {};
  for (const [key, info] of Object.entries(inspected)) {
    if (!isServerKey(key) || info === undefined) {
      continue;
    }
    const value = info.workspaceFolderValue ?? info.workspaceValue ?? info.globalValue;
    if (value !== undefined) {
      out[key] = value;
    }
  }
  return out;
}

/** `{"turnDetection.threshold": 0.6}` → `{turnDetection: {threshold: 0.6}}`. */
export function nest(flat: Flat): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split(".");
    let node = root;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      node = (typeof next === "object" && next !== null ? next : (node[part] = {})) as Record<string, unknown>;
    }
    node[parts[parts.length - 1] ?? key] = value;
  }
  return root;
}

/** initializationOptions: `{vivavoce: {...}}` with what the user set. */
export function initializationOptions(explicit: Flat): Record<string, unknown> {
  return { [SECTION]: nest(explicit) };
}

/**
 * The settings object of a didChangeConfiguration after the user changed something: what is
 * set now, plus the default of every key the user cleared since `previous` (the server never
 * resets a key that is merely absent).
 */
export function settingsChange(previous: Flat, current: Flat, defaults: Flat): Record<string, unknown> {
  const changed: Flat = { ...current };
  for (const key of Object.keys(previous)) {
    if (!(key in current) && !KEEP_ON_REVERT.has(key) && key in defaults) {
      changed[key] = defaults[key];
    }
  }
  return { [SECTION]: nest(changed) };
}

/** Split a command line: whitespace separates, single or double quotes group. */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  const pattern = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const match of line.matchAll(pattern)) {
    words.push(match[1] ?? match[2] ?? match[3] ?? "");
  }
  return words;
}

/** `vivavoce.server.command` (an array or a string) → executable and arguments. */
export function serverCommand(value: unknown): { command: string; args: string[] } {
  let words: string[] = [];
  if (Array.isArray(value)) {
    words = value.filter((w): w is string => typeof w === "string");
  } else if (typeof value === "string") {
    words = splitCommandLine(value);
  }
  const [command, ...args] = words.length > 0 && words[0] ? words : DEFAULT_SERVER_COMMAND;
  return { command: command ?? "vivavoce", args };
}
