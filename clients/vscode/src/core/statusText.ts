/**
 * What the one status bar item says for a server status: text with a codicon, a tooltip, and
 * whether it is an error. No `vscode` import.
 */

import { type Status, audioUse } from "./protocol";

export interface StatusView {
  /** Status bar text; `$(name)` is a codicon, `~spin` animates it. */
  text: string;
  tooltip: string;
  error: boolean;
  /** The `vivavoce.live` context key: F4 (push to talk) is bound only while a voice call is live. */
  live: boolean;
}

function level(dbfs: number): string {
  return Number.isFinite(dbfs) && dbfs < 0 ? `${Math.round(dbfs)} dBFS` : "";
}

/** USD as the server's history shows it: "$0.012" (five decimals under a tenth of a cent). */
export function usd(amount: number): string {
  return amount > 0 && amount < 0.001 ? `$${amount.toFixed(5)}` : `$${amount.toFixed(3)}`;
}

/** "2 min", "90 s": how long a call waited in silence before the server hung it up. */
export function idleWords(seconds: number): string {
  return seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

/** The tooltip's cost line ("" until something was billed). */
function costLine(status: Status): string {
  const usage = status.usage;
  if (!usage || !(usage.costUsd > 0)) {
    return "";
  }
  const call = usage.callCostUsd && usage.callCostUsd < usage.costUsd ? `, this call ${usd(usage.callCostUsd)}` : "";
  const tokens = `${usage.inputTokens} tokens in, ${usage.outputTokens} out`;
  const audio = `${Math.round(usage.audioInputSeconds)} s heard, ${Math.round(usage.audioOutputSeconds)} s spoken`;
  const bound = usage.unpriced ? " (at least: a model has no price)" : "";
  return `\ncost so far: ${usd(usage.costUsd)}${call}${bound} · ${tokens} · ${audio}`;
}

export function statusView(status: Status, serverRunning = true): StatusView {
  const view = statusViewWithoutCost(status, serverRunning);
  const cost = serverRunning ? costLine(status) : "";
  if (!cost) {
    return view;
  }
  // The cost goes after the first line (what is going on), before the hints.
  const [first = "", ...rest] = view.tooltip.split("\n");
  return { ...view, tooltip: [first + cost, ...rest].join("\n") };
}

function statusViewWithoutCost(status: Status, serverRunning: boolean): StatusView {
  if (!serverRunning) {
    return {
      text: "$(circle-slash) vivavoce",
      tooltip: "vivavoce: the language server is not running (vivavoce: Restart Server)",
      error: true,
      live: false,
    };
  }
  const about = [status.model, status.voice].filter((s) => s).join(", ");
  const detail = about ? ` (${about})` : "";
  const audio = audioUse(status);
  if (audio === "dictating") {
    // Dictation mode writes what is said at the cursor; text mode's push to talk records a turn
    // (nothing streams, nothing billed until it is sent).
    const tooltip = status.mode === "dictation"
      ? `vivavoce: dictating at the cursor${detail}\nSay "stop dictation", or run Dictate at the Cursor again, to stop`
      : `vivavoce: dictating in text mode${detail}\nPush to Talk again sends what you said`;
    return { text: "$(record) DICTATING", tooltip, error: false, live: false };
  }
  switch (status.state) {
    case "connecting":
      return { text: "$(loading~spin) connecting", tooltip: `vivavoce: connecting${detail}`, error: false, live: false };
    case "reconnecting":
      return { text: "$(loading~spin) reconnecting", tooltip: `vivavoce: reconnecting${detail}`, error: false, live: false };
    case "closing":
      return { text: "$(loading~spin) closing", tooltip: "vivavoce: ending the call", error: false, live: false };
    case "error":
      return {
        text: "$(error) vivavoce",
        tooltip: `vivavoce: ${status.error ?? "error"}\nClick to start again`,
        error: true,
        live: false,
      };
    case "listening":
      // No call: the microphone is heard on this machine for the wake word only.
      return {
        text: status.muted ? "$(mute) WAKE WORD" : "$(unmute) WAKE WORD",
        tooltip:
          "vivavoce: listening on this machine for the wake word; nothing is sent or billed " +
          "until it is said\nClick to start a call now",
        error: false,
        live: false,
      };
    case "idle":
      if (status.hungUpAfter != null && status.mode === "dictation") {
        // The server hung up a silent transcription session (billing stopped).
        return {
          text: "$(mic) vivavoce · hung up",
          tooltip:
            `vivavoce: dictation idle (hung up after ${idleWords(status.hungUpAfter)})${detail}\n` +
            "F4 (push to talk) or Dictate at the Cursor dictates again",
          error: false,
          live: true, // F4 stays bound: its press dictates again
        };
      }
      if (status.hungUpAfter != null && status.mode === "realtime") {
        // The server hung up a silent call (billing stopped); the conversation goes on.
        return {
          text: "$(mic) vivavoce · hung up",
          tooltip:
            `vivavoce: idle (hung up after ${idleWords(status.hungUpAfter)})${detail}\n` +
            "F4 (push to talk) or typed text calls again with the conversation",
          error: false,
          live: true, // F4 stays bound: its press calls again
        };
      }
      return {
        text: status.mode === "text" ? "$(comment) vivavoce" : "$(mic) vivavoce",
        tooltip: `vivavoce: idle, ${status.mode === "text" ? "text" : "voice"} mode\nClick to start`,
        error: false,
        live: false,
      };
    case "live":
      break;
  }
  if (audio !== "live") {
    // A text conversation: its spoken replies come over a call that sends no microphone.
    return {
      text: "$(comment-discussion) TEXT",
      tooltip: `vivavoce: text mode${detail}, no microphone streaming\nClick to stop`,
      error: false,
      live: false,
    };
  }
  const talk = status.pushToTalk ? " · talking" : "";
  const muted = status.muted ? " · muted" : "";
  if (status.audioError) {
    return {
      text: "$(warning) LIVE · no audio",
      tooltip: `vivavoce: live${detail}, without sound: ${status.audioError}\nClick to stop`,
      error: false,
      live: false, // no microphone: F4 (push to talk) would do nothing
    };
  }
  const meter = level(status.inputLevel);
  const lost = status.inputDropped ? `\n${status.inputDropped * 20} ms of microphone audio lost` : "";
  return {
    text: `${status.muted ? "$(mute)" : "$(mic-filled)"} LIVE${talk}${muted}`,
    tooltip:
      `vivavoce: live${detail}${meter ? `\nmicrophone ${meter}` : ""}${lost}\n` +
      "F4: push to talk (press to talk, press again to send)\nClick to stop",
    error: false,
    live: true,
  };
}
