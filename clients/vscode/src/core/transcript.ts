/**
 * Transcript rendering for an append-only view (an output channel): streams deltas onto the
 * current line and closes it with the final text. When another turn interrupts a streaming one
 * (the user speaks while the assistant talks) the line is closed and the turn resumes on a new
 * one. Tool lines (what a voice tool read or changed) arrive final only and read "🔧 tool: …".
 * No `vscode` import.
 */

import type { TranscriptUpdate } from "./protocol";

const LABEL = { user: "you", assistant: "assistant", tool: "🔧 tool" } as const;
/** Finished item ids remembered to drop repeated finals; older ones are forgotten. */
const REMEMBERED = 256;

export class TranscriptText {
  /** The item whose text is streaming on the last line, if any. */
  private open: string | undefined;
  private readonly streamed = new Map<string, string>();
  private readonly finished: string[] = [];

  /** Text to append for one update ("" when there is nothing new). */
  render(update: TranscriptUpdate): string {
    if (this.finished.includes(update.itemId)) {
      return "";
    }
    return update.final ? this.finish(update) : this.stream(update);
  }

  /** A line of its own (a call started or ended), closing a streaming line first. */
  note(line: string): string {
    const out = (this.open !== undefined ? "\n" : "") + line + "\n";
    this.open = undefined;
    return out;
  }

  private stream(update: TranscriptUpdate): string {
    const before = this.streamed.get(update.itemId) ?? "";
    let delta = update.delta;
    if (delta === undefined) {
      // A partial update with the whole text so far and no delta: take what is new.
      delta = update.text.startsWith(before) ? update.text.slice(before.length) : "";
    }
    if (delta === "") {
      return "";
    }
    let out = "";
    if (this.open !== update.itemId) {
      out += this.open !== undefined ? "\n" : "";
      out += `${LABEL[update.role]}: ${before ? "… " : ""}`;
      this.open = update.itemId;
    }
    this.streamed.set(update.itemId, before + delta);
    return out + delta;
  }

  private finish(update: TranscriptUpdate): string {
    const before = this.streamed.get(update.itemId) ?? "";
    this.streamed.delete(update.itemId);
    this.remember(update.itemId);
    const suffix = update.interrupted ? " [interrupted]" : "";
    let out: string;
    if (this.open === update.itemId && update.text.startsWith(before)) {
      out = update.text.slice(before.length) + suffix + "\n";
    } else if (update.text === "" && !update.interrupted) {
      return ""; // nothing was said (an empty transcription)
    } else {
      out = (this.open !== undefined ? "\n" : "") + `${LABEL[update.role]}: ${update.text}${suffix}\n`;
    }
    this.open = undefined; // the last line is complete either way
    return out;
  }

  private remember(itemId: string): void {
    this.finished.push(itemId);
    if (this.finished.length > REMEMBERED) {
      this.finished.shift();
    }
  }
}
