/**
 * The voice picker: the voices of the current mode from the server's `vivavoce.voices`
 * (`{realtime: [...], text: [...], mode, voice}`), the current one first and marked. Picking one
 * (re)starts the conversation in that voice, as the web component's voice list does. No `vscode`.
 */

export interface VoiceChoice {
  label: string;
  /** The voice sent in realtime/start. */
  voice: string;
  description?: string;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string" && v !== "") : [];
}

/** The choices for a `vivavoce.voices` result (empty when it is not one). */
export function voiceChoices(result: unknown): VoiceChoice[] {
  if (typeof result !== "object" || result === null) {
    return [];
  }
  const { realtime, text, mode, voice } = result as Record<string, unknown>;
  const list = strings(mode === "text" ? text : realtime);
  const current = typeof voice === "string" ? voice : "";
  if (current && !list.includes(current)) {
    list.unshift(current);
  }
  const ordered = current ? [current, ...list.filter((v) => v !== current)] : list;
  return ordered.map((v) => (v === current ? { label: v, voice: v, description: "current" } : { label: v, voice: v }));
}
