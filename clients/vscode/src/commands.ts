/**
 * Palette commands. Each is one request to the server (core/commands.ts maps them); the device
 * pickers and history use newer server commands and fall back when the server lacks them.
 */

import * as vscode from "vscode";

import { type RequestCommand, errorText, isUnknownCommand, toggleConversation } from "./core/commands";
import { type DeviceKind, SETTING, deviceChoices, historyRecordings, historyTarget, selectDeviceArguments } from "./core/devices";
import { ServerCommand } from "./core/protocol";
import { voiceChoices } from "./core/voices";
import { SECTION } from "./core/settings";
import type { CodeViews } from "./code";
import { PANEL_VIEW } from "./panel";
import type { ServerConnection } from "./serverConnection";

export function registerCommands(connection: ServerConnection, code: CodeViews): vscode.Disposable[] {
  const request = (command: RequestCommand) => () => connection.run(command);
  const handlers: Record<string, (...args: unknown[]) => unknown> = {
    "vivavoce.start": async (options?: unknown) => {
      const result = await connection.run("start", undefined, voiceOf(options));
      if (result) connection.revealTranscript();
    },
    "vivavoce.stop": request("stop"),
    "vivavoce.dictate": request("dictate"),
    "vivavoce.toggleMode": request("toggleMode"),
    "vivavoce.pushToTalk": request("pushToTalk"),
    "vivavoce.mute": request("mute"),
    "vivavoce.interrupt": request("interrupt"),
    "vivavoce.sendText": (text?: unknown) => sendText(connection, text),
    "vivavoce.toggleConversation": () => vscode.commands.executeCommand(`vivavoce.${toggleConversation(connection.status)}`),
    "vivavoce.selectMicrophone": () => selectDevice(connection, "input"),
    "vivavoce.selectSpeaker": () => selectDevice(connection, "output"),
    "vivavoce.showTranscript": () => { connection.revealTranscript(); },
    "vivavoce.showPanel": () => vscode.commands.executeCommand(`${PANEL_VIEW}.focus`),
    "vivavoce.openHistory": () => openHistory(connection),
    "vivavoce.restartServer": () => connection.restartServer(),
    "vivavoce.selectVoice": () => selectVoice(connection),
    "vivavoce.insertCode": (id?: unknown) => code.insert(id),
  };
  return Object.entries(handlers).map(([id, handler]) => vscode.commands.registerCommand(id, handler));
}

/** `{voice}` given to vivavoce.start (the panel's voice list): start in that voice. */
function voiceOf(options: unknown): string | undefined {
  const voice = (options as { voice?: unknown } | undefined)?.voice;
  return typeof voice === "string" && voice ? voice : undefined;
}

/** Type to the assistant (works with the embedded peer and no microphone); starts a call if needed. */
async function sendText(connection: ServerConnection, given?: unknown): Promise<void> {
  const text =
    typeof given === "string" && given
      ? given
      : await vscode.window.showInputBox({ prompt: "vivavoce: say (typed)", placeHolder: "What should the assistant hear?" });
  if (!text) {
    return;
  }
  if (connection.status.state !== "live") {
    if (!(await connection.run("start"))) return;
    connection.revealTranscript();
  }
  await connection.run("sendText", text);
}

async function selectDevice(connection: ServerConnection, kind: DeviceKind): Promise<void> {
  const what = kind === "input" ? "microphone" : "speaker";
  let device: string | null | undefined;
  try {
    const listed = await connection.executeServerCommand(ServerCommand.listDevices);
    const picked = await vscode.window.showQuickPick(deviceChoices(listed, kind), { title: `vivavoce: ${what}` });
    device = picked?.value;
    if (picked === undefined) return;
  } catch (error) {
    if (!isUnknownCommand(error, ServerCommand.listDevices)) {
      void vscode.window.showErrorMessage(`vivavoce: ${errorText(error)}`);
      return;
    }
    // An older server cannot list devices: ask for a name (or index) instead.
    const typed = await vscode.window.showInputBox({
      title: `vivavoce: ${what}`,
      prompt: `Name or index of the ${what} (see \`vivavoce devices\`); empty for the system default`,
    });
    if (typed === undefined) return;
    device = typed.trim() || null;
  }
  try {
    await connection.executeServerCommand(ServerCommand.selectDevice, selectDeviceArguments(kind, device ?? null));
  } catch (error) {
    if (!isUnknownCommand(error, ServerCommand.selectDevice)) {
      void vscode.window.showErrorMessage(`vivavoce: ${errorText(error)}`);
      return;
    }
    // Older server: the setting reaches it through didChangeConfiguration.
    await vscode.workspace.getConfiguration(SECTION).update(SETTING[kind], device ?? null, vscode.ConfigurationTarget.Global);
  }
}

/** Pick a voice of the current mode; the conversation (re)starts in it (a reconnect when live). */
async function selectVoice(connection: ServerConnection): Promise<void> {
  let listed: unknown;
  try {
    listed = await connection.executeServerCommand(ServerCommand.voices);
  } catch (error) {
    const text = isUnknownCommand(error, ServerCommand.voices) ? "this vivavoce server cannot list voices (update it)" : errorText(error);
    void vscode.window.showWarningMessage(`vivavoce: ${text}`);
    return;
  }
  const mode = connection.status.mode === "text" ? "text mode" : "voice mode";
  const picked = await vscode.window.showQuickPick(voiceChoices(listed), {
    title: `vivavoce: voice (${mode})`,
    placeHolder: "The conversation restarts in the voice you pick",
  });
  if (!picked) return;
  if (!["idle", "error", "listening"].includes(connection.status.state)) {
    await connection.run("stop");
  }
  if (await connection.run("start", undefined, picked.voice)) connection.revealTranscript();
}

async function openHistory(connection: ServerConnection): Promise<void> {
  let result: unknown;
  try {
    result = await connection.executeServerCommand(ServerCommand.openHistory);
  } catch (error) {
    const text = isUnknownCommand(error, ServerCommand.openHistory)
      ? "this vivavoce server has no history yet (update it)"
      : errorText(error);
    void vscode.window.showWarningMessage(`vivavoce: ${text}`);
    return;
  }
  const target = historyTarget(result);
  if (!target) {
    return; // the server showed the history itself (or had nothing to show)
  }
  const uri = "uri" in target ? vscode.Uri.parse(target.uri) : vscode.Uri.file(target.path);
  const stat = await vscode.workspace.fs.stat(uri).then((s) => s, () => undefined);
  if (stat && stat.type & vscode.FileType.Directory) {
    await vscode.commands.executeCommand("revealFileInOS", uri);
  } else {
    await vscode.window.showTextDocument(uri, { preview: true });
  }
  const recordings = historyRecordings(result);
  const last = recordings.at(-1);
  if (last !== undefined) {
    const open = "Open the last recording";
    const note = `vivavoce: ${recordings.length} call recording(s) beside this history`;
    void vscode.window.showInformationMessage(note, open).then((pick) => {
      if (pick === open) {
        void vscode.commands.executeCommand("vscode.open", vscode.Uri.parse(last));
      }
    });
  }
}
