/**
 * The language client: starts `vivavoce lsp` over stdio (command from `vivavoce.server.command`),
 * syncs every file and untitled document (the server inserts transcripts through
 * workspace/applyEdit and needs the text), and answers workspace/configuration with only what
 * the user set.
 */

import * as readline from "node:readline";
import type { Readable } from "node:stream";

import * as vscode from "vscode";
import {
  CancellationToken,
  type DynamicFeature,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type ServerOptions,
  type StaticFeature,
} from "vscode-languageclient/node";

import { EXTENSION_COMMANDS } from "./core/commands";
import { UNDO_GROUPS_CAPABILITY, UndoGroups, undoGroupOf } from "./core/undo";
import { ServerLog } from "./core/serverLog";
import { type Flat, SECTION, initializationOptions, nest, serverCommand } from "./core/settings";

const OWN_COMMANDS = new Set(EXTENSION_COMMANDS);

/**
 * A LanguageClient that leaves the server's `vivavoce.*` commands to the extension: the
 * built-in feature would register the same ids (and fail, since the palette already has them).
 * Server commands the extension does not wrap are still registered, so keybindings reach them.
 */
class VivavoceLanguageClient extends LanguageClient {
  override registerFeature(feature: StaticFeature | DynamicFeature<unknown>): void {
    if ("registrationType" in feature && feature.registrationType.method === ExecuteCommandRequest.method) {
      const register = feature.register.bind(feature);
      feature.register = (data) => {
        const options = data.registerOptions as { commands?: string[] };
        const commands = (options.commands ?? []).filter((c) => !OWN_COMMANDS.has(c));
        register({ ...data, registerOptions: { ...options, commands } });
      };
    }
    super.registerFeature(feature);
  }
}

/** `output`, telling `seen` each message the language client logs to it. */
function withLogMessages(output: vscode.LogOutputChannel, seen: (text: string) => void): vscode.LogOutputChannel {
  const logging = new Set<string | symbol>(["debug", "info", "warn", "error", "appendLine"]);
  return new Proxy(output, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (!logging.has(key) || typeof value !== "function") {
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      }
      return (message: unknown, ...rest: unknown[]) => {
        if (typeof message === "string") seen(message);
        return (value as (...args: unknown[]) => unknown).call(target, message, ...rest);
      };
    },
  });
}

/** The experimental client capability that asks the server for undo groups (core/undo.ts). */
const undoGroupsFeature: StaticFeature = {
  fillClientCapabilities(capabilities) {
    capabilities.experimental = { ...(capabilities.experimental as object | undefined), [UNDO_GROUPS_CAPABILITY]: true };
  },
  initialize() {},
  getState() {
    return { kind: "static" };
  },
  clear() {},
};

type Edit = { range: { start: { line: number; character: number }; end: { line: number; character: number } }; newText: string };

/**
 * A grouped edit (one text edit in one open editor) applied in that editor, with no undo stop
 * before it when it continues the last edit's group: a dictated utterance is one undo step.
 * Anything else: undefined (the language client applies it as usual).
 */
async function applyGrouped(
  groups: UndoGroups,
  label: string | undefined,
  changes: Record<string, Edit[]> | undefined,
  hasDocumentChanges: boolean,
): Promise<{ applied: boolean } | undefined> {
  const group = undoGroupOf(label);
  const entries = Object.entries(changes ?? {});
  const [only] = entries;
  if (group === undefined || hasDocumentChanges || entries.length !== 1 || only === undefined || only[1].length !== 1) {
    return undefined;
  }
  const [uri, [edit]] = only as [string, [Edit]];
  const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri);
  if (editor === undefined) {
    return undefined;
  }
  const { start, end } = edit.range;
  const range = new vscode.Range(start.line, start.character, end.line, end.character);
  const joins = groups.joins(group, uri, editor.document.version);
  const applied = await editor.edit((builder) => { builder.replace(range, edit.newText); }, {
    undoStopBefore: !joins,
    undoStopAfter: false,
  });
  groups.applied(group, uri, applied ? editor.document.version : undefined);
  return { applied };
}

function eachLine(input: Readable, handle: (line: string) => void): void {
  readline.createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 }).on("line", handle);
}

export function createClient(output: vscode.LogOutputChannel, explicit: () => Flat): LanguageClient {
  const config = vscode.workspace.getConfiguration(SECTION);
  const { command, args } = serverCommand(config.get("server.command"));
  const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  // No `transport`: TransportKind.stdio would append `--stdio`, which `vivavoce lsp` rejects.
  // Without it the client still speaks over the process's stdin/stdout.
  const serverOptions: ServerOptions = { command, args, options: cwd ? { cwd } : {} };
  // The server writes its records to stderr and sends them as window/logMessage: show each once.
  const log = new ServerLog((line) => { output[line.level](line.text); });
  const logged = withLogMessages(output, (text) => { log.logMessage(text); });
  const groups = new UndoGroups();
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    outputChannel: logged,
    stdioOptions: {
      stdout: (input, channel) => { eachLine(input, (line) => { channel.info(line); }); },
      stderr: (input) => {
        eachLine(input, (line) => { log.stderr(line); });
        input.on("close", () => { log.flush(); });
      },
    },
    initializationOptions: () => initializationOptions(explicit()),
    middleware: {
      workspace: {
        handleApplyEdit: async (params, next) =>
          (await applyGrouped(
            groups,
            params.label,
            params.edit.changes,
            (params.edit.documentChanges?.length ?? 0) > 0,
          )) ?? next(params, CancellationToken.None),
        configuration: (params, token, next) => {
          if (params.items.every((item) => item.section === SECTION)) {
            return params.items.map(() => nest(explicit()));
          }
          return next(params, token);
        },
      },
    },
  };
  const client = new VivavoceLanguageClient(SECTION, "vivavoce", serverOptions, clientOptions);
  client.registerFeature(undoGroupsFeature);
  return client;
}
