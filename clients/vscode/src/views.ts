/**
 * What the user sees: one status bar item (click starts or stops) and the transcript, streamed
 * into an output channel. The words come from the vscode-free modules in core/.
 */

import * as vscode from "vscode";

import type { Status, TranscriptUpdate } from "./core/protocol";
import { statusView } from "./core/statusText";
import { TranscriptText } from "./core/transcript";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    this.item = vscode.window.createStatusBarItem("vivavoce.status", vscode.StatusBarAlignment.Left, 100);
    this.item.name = "vivavoce";
    this.item.command = "vivavoce.toggleConversation";
    this.item.show();
  }

  show(status: Status, serverRunning: boolean): void {
    const view = statusView(status, serverRunning);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.error ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
    void vscode.commands.executeCommand("setContext", "vivavoce.live", view.live);
  }

  dispose(): void {
    this.item.dispose();
  }
}

export class TranscriptChannel implements vscode.Disposable {
  private readonly channel: vscode.OutputChannel;
  private readonly text = new TranscriptText();

  constructor() {
    this.channel = vscode.window.createOutputChannel("vivavoce transcript");
  }

  add(update: TranscriptUpdate): void {
    const text = this.text.render(update);
    if (text) {
      this.channel.append(text);
    }
  }

  /** A line of its own (a call started or ended). */
  note(line: string): void {
    this.channel.append(this.text.note(line));
  }

  reveal(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
