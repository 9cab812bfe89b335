/**
 * Microphone/speaker choice and history: reading what the newer server commands
 * (`vivavoce.listDevices`, `vivavoce.selectDevice`, `vivavoce.openHistory`) return. Their result
 * shapes are read tolerantly so a small server change does not break the picker. No `vscode`.
 */

export type DeviceKind = "input" | "output";

export interface DeviceChoice {
  /** What the picker shows. */
  label: string;
  /** What is sent to the server / stored in the setting (name, or null for the system default). */
  value: string | null;
  detail?: string;
}

export const SETTING: Record<DeviceKind, string> = { input: "inputDevice", output: "outputDevice" };

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function kindOf(device: Json): DeviceKind | "both" | undefined {
  const kind = device.kind ?? device.type ?? device.direction;
  if (kind === "input" || kind === "microphone" || kind === "source") return "input";
  if (kind === "output" || kind === "speaker" || kind === "sink") return "output";
  const inputs = Number(device.maxInputChannels ?? device.inputChannels ?? (device.input ? 1 : 0));
  const outputs = Number(device.maxOutputChannels ?? device.outputChannels ?? (device.output ? 1 : 0));
  if (inputs > 0 && outputs > 0) return "both";
  if (inputs > 0) return "input";
  if (outputs > 0) return "output";
  return undefined;
}

function choice(device: unknown): DeviceChoice | undefined {
  if (typeof device === "string") {
    return { label: device, value: device };
  }
  if (!isObject(device) || (typeof device.name !== "string" && typeof device.index !== "number")) {
    return undefined;
  }
  const name = typeof device.name === "string" ? device.name : String(device.index);
  const details = [device.default === true || device.isDefault === true ? "system default" : "", typeof device.hostApi === "string" ? device.hostApi : ""];
  const detail = details.filter((d) => d).join(" · ");
  return detail ? { label: name, value: name, detail } : { label: name, value: name };
}

/** The devices of one kind in a listDevices result; the first choice is the system default. */
export function deviceChoices(result: unknown, kind: DeviceKind): DeviceChoice[] {
  let list: unknown[] = [];
  if (Array.isArray(result)) {
    list = result.filter((d) => !isObject(d) || [kind, "both", undefined].includes(kindOf(d)));
  } else if (isObject(result)) {
    const plural = kind === "input" ? ["inputs", "input", "microphones"] : ["outputs", "output", "speakers"];
    const found = plural.map((k) => result[k]).find(Array.isArray);
    if (found) {
      list = found;
    } else if (Array.isArray(result.devices)) {
      return deviceChoices(result.devices, kind);
    }
  }
  const choices = list.map(choice).filter((c): c is DeviceChoice => c !== undefined);
  return [{ label: "System default", value: null }, ...choices];
}

/** Arguments of `vivavoce.selectDevice`: one object, as every vivavoce command accepts. */
export function selectDeviceArguments(kind: DeviceKind, device: string | null): unknown[] {
  return [{ kind, device }];
}

/** The call recordings `vivavoce.openHistory` lists beside the history (setting `record`). */
export function historyRecordings(result: unknown): string[] {
  const list = isObject(result) && Array.isArray(result.recordings) ? result.recordings : [];
  return list.flatMap((r: unknown) => (isObject(r) && typeof r.uri === "string" ? [r.uri] : []));
}

/** What to open from a `vivavoce.openHistory` result: a URI or a path, if there is one. */
export function historyTarget(result: unknown): { uri: string } | { path: string } | undefined {
  const value = isObject(result) ? (result.uri ?? result.path ?? result.file ?? result.dir) : result;
  if (typeof value !== "string" || value === "") {
    return undefined;
  }
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? { uri: value } : { path: value };
}
