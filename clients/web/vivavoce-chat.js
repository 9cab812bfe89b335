/**
 * <vivavoce-chat> — a spoken or typed conversation with the vivavoce language server,
 * in any web page. One file, no dependencies, no build step, shadow DOM.
 *
 *   <script type="module" src="vivavoce-chat.js"></script>   (or import "./vivavoce-chat.js")
 *   <vivavoce-chat url="ws://127.0.0.1:PORT/" token="…"></vivavoce-chat>
 *
 * It loads as an ES module or as a classic <script src> (it has no import/export, for that
 * reason: Chrome refuses module scripts on pages opened from file://). The class is
 * customElements.get("vivavoce-chat") (also globalThis.VivavoceChat).
 *
 * The server is `vivavoce lsp --ws 127.0.0.1:PORT` (or `vivavoce web`, which serves this page
 * too). It owns the microphone, the speaker and the call; this element is a remote control and a
 * transcript view, exactly like an editor plugin (DESIGN.md, "Wire contract").
 *
 * Attributes
 *   url       WebSocket address of the server (required to connect)
 *   token     the token the server printed at start (or put ?token=… in url)
 *   options   JSON initializationOptions; default {"vivavoce":{"peer":"embedded"}}
 *             (also settable as the JS property `options`, an object)
 *
 * Methods: connect(), disconnect(), start(), stop(), sendText(text), request(method, params);
 * attach(host) and notify(method, params) when a host carries the connection instead of a
 * WebSocket (the VS Code extension's conversation panel: clients/vscode/src/webview/).
 * Events (CustomEvent, detail = the notification's params):
 *   transcript   realtime/transcript  {itemId, previousItemId, role, text, delta?, final, interrupted?}
 *                role "user", "assistant" or "tool" (a voice tool the assistant used; final only)
 *   status       realtime/status      {state, mode, voice, model, muted, pushToTalk, inputLevel, callId,
 *                                     audio, error?, usage?, hungUpAfter?}
 *   connection   {state: "connecting"|"open"|"closed", error?}
 *   code         realtime/code        {id, language, code, title?}: code the assistant shows
 *                instead of reading it aloud; shown as a code block with an Insert button
 *   insert       {code, language, id?}: the Insert button of a code block (``` fences in a turn,
 *                or shown code: then with its id); cancelable: unless a listener calls
 *                preventDefault() shown code is inserted by the server (realtime/insertCode, at
 *                the editor's cursor) and anything else, or what the server cannot insert, copied
 *
 * Behaviour worth knowing:
 *   - Sending text with no live call first starts one (realtime/start) in the current mode.
 *   - Choosing a voice (re)starts the conversation in that voice: realtime/start {mode, voice}
 *     when idle; when live, realtime/stop then realtime/start (a reconnect; the server keeps
 *     the conversation and replays recent turns to the new call).
 *   - The mode toggle keeps the call state; the voice list follows the mode (the server maps
 *     the voice, e.g. verse → echo when switching to text).
 *   - Push to talk: hold the button (pointer down/up → realtime/pushToTalk {pressed}).
 *   - The header says what the microphone is doing (status.audio): a red LIVE badge only while a
 *     realtime call is open (the microphone streams to it, billed by the minute); a quiet TEXT
 *     badge for a text conversation (its spoken replies come over a call that sends no
 *     microphone: not LIVE); DICTATING while text mode's push-to-talk records a turn; WAKE WORD
 *     while no call is open and the microphone is heard on this machine for the wake word.
 *   - The level meter shows status.inputLevel (dBFS, −60…0) while LIVE or DICTATING.
 *   - The header shows what the conversation has cost so far (status.usage.costUsd, "$0.012"),
 *     and "idle (hung up after 2 min)" when the server hung up a silent call (status.hungUpAfter);
 *     the next message (or push to talk) calls again, with the conversation.
 *   - JSON-RPC: one message per WebSocket text frame, no Content-Length headers.
 */

{ // a block: nothing leaks into the global scope of a classic script
const DEFAULT_OPTIONS = Object.freeze({ vivavoce: { peer: "embedded" } });
const METER_FLOOR_DB = -60;

const STYLE = `
:host {
  --vv-bg: #fbfbfd; --vv-fg: #1d1d22; --vv-muted: #6b6b76; --vv-line: #dcdce3;
  --vv-user: #2f6fde; --vv-user-fg: #fff; --vv-assistant: #ececf2; --vv-live: #d92d2d;
  --vv-tool: #8a6d1f; --vv-dictating: #a34f00;
  --vv-error: #b3261e; --vv-radius: 10px;
  display: flex; flex-direction: column; font: 14px/1.4 system-ui, sans-serif;
  color: var(--vv-fg); background: var(--vv-bg); border: 1px solid var(--vv-line);
  border-radius: var(--vv-radius); min-height: 360px; height: 100%; box-sizing: border-box;
  overflow: hidden;
}
* { box-sizing: border-box; }
header, .controls, form { display: flex; gap: 8px; align-items: center; padding: 8px 10px; }
header { border-bottom: 1px solid var(--vv-line); flex-wrap: wrap; }
.title { font-weight: 600; margin-right: auto; display: flex; align-items: center; gap: 8px; }
.state { color: var(--vv-muted); font-weight: 400; font-size: 12px; }
.live { background: var(--vv-live); color: #fff; font-size: 11px; font-weight: 700;
  letter-spacing: .08em; padding: 1px 6px; border-radius: 4px; animation: pulse 1.4s infinite; }
.live[hidden] { display: none; }
.indicator { color: var(--vv-muted); border: 1px solid currentColor; font-size: 11px;
  font-weight: 600; letter-spacing: .08em; padding: 0 5px; border-radius: 4px; }
.indicator.dictating { color: var(--vv-dictating); }
.indicator.dictating::before { content: "● "; }
.indicator.wake::before { content: "◌ "; }
.indicator[hidden] { display: none; }
@keyframes pulse { 50% { opacity: .55; } }
button, select, textarea { font: inherit; }
button, select { border: 1px solid var(--vv-line); background: var(--vv-control, #fff);
  border-radius: 6px; padding: 4px 10px; cursor: pointer; color: var(--vv-control-fg, inherit); }
button:disabled, select:disabled, textarea:disabled { opacity: .5; cursor: default; }
button[aria-pressed="true"] { background: var(--vv-fg); color: var(--vv-bg); }
.log { flex: 1; overflow-y: auto; padding: 10px; display: flex; flex-direction: column; gap: 6px; }
.empty { color: var(--vv-muted); margin: auto; }
.turn { max-width: 80%; padding: 6px 10px; border-radius: var(--vv-radius); white-space: pre-wrap;
  overflow-wrap: anywhere; }
.turn.user { align-self: flex-end; background: var(--vv-user); color: var(--vv-user-fg); }
.turn.assistant { align-self: flex-start; background: var(--vv-assistant); }
.turn.tool { align-self: center; padding: 2px 8px; border: 1px dashed var(--vv-line);
  color: var(--vv-tool); font: 12px/1.4 ui-monospace, monospace; }
.turn.tool::before { content: "🔧 "; }
.turn.streaming::after { content: "▍"; animation: pulse 1s infinite; }
.turn.interrupted::after { content: " (interrupted)"; color: var(--vv-muted); font-size: 12px; }
.code { margin: 4px 0; border: 1px solid var(--vv-line); border-radius: 6px; white-space: normal;
  background: var(--vv-code-bg, #f4f4f8); color: var(--vv-code-fg, var(--vv-fg)); }
.code pre { margin: 0; padding: 6px 8px; overflow-x: auto; white-space: pre;
  font: 12px/1.4 var(--vv-mono, ui-monospace, monospace); }
.turn.shown { white-space: normal; min-width: 50%; }
.turn.shown .caption { color: var(--vv-muted); font-size: 12px; }
.code .insert { display: block; margin: 0 6px 6px auto; padding: 1px 8px; font-size: 12px; }
.controls { border-top: 1px solid var(--vv-line); }
.meter { flex: 1; height: 8px; background: var(--vv-line); border-radius: 4px; overflow: hidden; }
.meter > div { height: 100%; width: 0; background: #2e9d4f; transition: width 80ms linear; }
.cost { font-size: 12px; color: var(--vv-muted); font-variant-numeric: tabular-nums; }
.level { font-size: 12px; color: var(--vv-muted); min-width: 64px; text-align: right;
  font-variant-numeric: tabular-nums; }
form { border-top: 1px solid var(--vv-line); }
form textarea { flex: 1; padding: 6px 8px; border: 1px solid var(--vv-line); border-radius: 6px;
  background: var(--vv-input, #fff); color: var(--vv-input-fg, inherit); font: inherit;
  resize: none; max-height: 8em; }
.error { color: var(--vv-error); font-size: 12px; padding: 0 10px 6px; min-height: 1.4em;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
`;

const HTML = `
<header>
  <span class="title">vivavoce <span class="live" part="live" hidden>LIVE</span>
    <span class="indicator" part="indicator" hidden></span>
    <span class="state" part="state">offline</span>
    <span class="cost" part="cost" title="What this conversation has cost so far" hidden></span></span>
  <button class="mode" title="Switch between a realtime call and text chat">Mode: realtime</button>
  <label>Voice <select class="voice" title="Voice of the current mode"></select></label>
  <button class="start">Start</button>
  <button class="dictate" aria-pressed="false" title="Dictation: what you say is written, not answered">Dictate</button>
</header>
<div class="log" part="log" role="log" aria-live="polite"><p class="empty">No messages yet.</p></div>
<div class="controls">
  <button class="mute" aria-pressed="false">Mute</button>
  <button class="ptt" aria-pressed="false" title="Hold to talk">Hold to talk</button>
  <div class="meter" title="Microphone level"><div></div></div>
  <span class="level">— dBFS</span>
</div>
<form>
  <textarea class="text" rows="1" placeholder="Type a message… (Shift+Enter: new line)"
    autocomplete="off" aria-label="Message"></textarea>
  <button class="send" type="submit">Send</button>
</form>
<div class="error" part="error" role="alert"></div>
`;

/**
 * What the microphone is doing: "live" (a realtime call streams it), "dictating" (text mode's
 * push-to-talk records a turn), "wake" (no call: listened to on this machine for the wake word)
 * or "off" — status.audio, or the same rule for an older server.
 */
function audioUse(s) {
  if (["live", "dictating", "wake", "off"].includes(s.audio)) return s.audio;
  if (s.state === "listening") return "wake";
  if (s.mode === "text") return s.pushToTalk ? "dictating" : "off";
  return s.state === "live" ? "live" : "off";
}

/** USD as the server's history shows it: "$0.012" (five decimals under a tenth of a cent). */
function usd(amount) {
  return amount > 0 && amount < 0.001 ? `$${amount.toFixed(5)}` : `$${amount.toFixed(3)}`;
}

/** "2 min", "90 s": how long a call waited in silence before the server hung it up. */
function idleWords(seconds) {
  return seconds >= 60 && seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

/** JSON-RPC 2.0 over one WebSocket: one message per frame. */
class RpcSocket {
  constructor(url, { onNotification, onClose }) {
    this.url = url;
    this.onNotification = onNotification;
    this.onClose = onClose;
    this.nextId = 1;
    this.pending = new Map();
    this.decoder = new TextDecoder();
  }

  /** Resolves once open; rejects if the server refuses or is not there. */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = "arraybuffer"; // pygls' own start_ws sends binary frames
      this.ws = ws;
      let opened = false;
      ws.onopen = () => { opened = true; resolve(); };
      ws.onmessage = (event) => this.receive(event.data);
      ws.onclose = (event) => {
        const error = new Error(closeReason(event, opened));
        for (const { reject: fail } of this.pending.values()) fail(error);
        this.pending.clear();
        if (opened) this.onClose(error); else reject(error);
      };
    });
  }

  receive(data) {
    let msg;
    try {
      msg = JSON.parse(typeof data === "string" ? data : this.decoder.decode(data));
    } catch {
      return;
    }
    if (msg.id !== undefined && msg.id !== null && msg.method) {
      // A request from the server (none is expected: we announce no capabilities for them).
      this.send({ jsonrpc: "2.0", id: msg.id, result: null });
    } else if (msg.id !== undefined && msg.id !== null) {
      const waiter = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (!waiter) return;
      if (msg.error) waiter.reject(new Error(msg.error.message || "request failed"));
      else waiter.resolve(msg.result);
    } else if (msg.method) {
      this.onNotification(msg.method, msg.params);
    }
  }

  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw new Error("not connected");
    this.ws.send(JSON.stringify(msg));
  }

  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.send({ jsonrpc: "2.0", id, method, params: params ?? null });
      } catch (err) {
        this.pending.delete(id);
        reject(err);
      }
    });
  }

  notify(method, params) {
    this.send({ jsonrpc: "2.0", method, params: params ?? null });
  }

  close() {
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000);
    }
    for (const { reject } of this.pending.values()) reject(new Error("disconnected"));
    this.pending.clear();
  }
}

function closeReason(event, opened) {
  if (event.code === 4000) return "another page took over the connection";
  if (opened) return `connection closed${event.reason ? `: ${event.reason}` : ""} (${event.code})`;
  return "cannot connect: server not running, wrong token, or this page's origin is not allowed";
}

/** The address without its query (which holds the token): safe to show. */
function displayUrl(url) {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "the server";
  }
}

/** A fenced code block: ```lang, its lines, and ``` (or the end of a streaming text). */
const FENCE = /```([\w+.#-]*)[^\n]*\n([\s\S]*?)(?:\n?```|$)/g;

/** A turn's text as nodes: plain text, and each fenced block as code with an Insert button. */
/** A code block with its Insert button (`insert(code, language, button)` on click). */
function codeBlock(code, language, insert) {
  const block = document.createElement("div");
  block.className = "code";
  block.setAttribute("part", "code");
  if (language) block.dataset.language = language;
  const pre = document.createElement("pre");
  pre.append(document.createElement("code"));
  pre.firstChild.textContent = code;
  const button = document.createElement("button");
  button.className = "insert";
  button.type = "button";
  button.textContent = "Insert";
  button.title = "Insert at the cursor";
  button.addEventListener("click", () => insert(code, language, button));
  block.append(pre, button);
  return block;
}

function textNodes(text, insert) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(FENCE)) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    const [, language, code] = match;
    nodes.push(codeBlock(code, language, insert));
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

class VivavoceChat extends HTMLElement {
  static observedAttributes = ["url", "token", "options"];

  constructor() {
    super();
    this.attachShadow({ mode: "open" });
    this.shadowRoot.innerHTML = `<style>${STYLE}</style>${HTML}`;
    const $ = (sel) => this.shadowRoot.querySelector(sel);
    this.ui = {
      live: $(".live"), indicator: $(".indicator"), state: $(".state"), mode: $(".mode"),
      voice: $(".voice"), start: $(".start"), dictate: $(".dictate"),
      log: $(".log"), empty: $(".empty"), mute: $(".mute"), ptt: $(".ptt"),
      meter: $(".meter > div"), level: $(".level"), cost: $(".cost"), form: $("form"), text: $(".text"),
      send: $(".send"), error: $(".error"),
    };
    this.rpc = null;
    this.status = null;
    this.voices = { realtime: [], text: [] };
    this.turns = new Map();
    this._options = null;
    this._pttDown = false;
    this._host = null;
    this._insert = (code, language, button) => this._onInsert(code, language, button);
    this._wire();
    this._render();
  }

  connectedCallback() {
    if (this.getAttribute("url") && !this.rpc) this._scheduleConnect();
  }

  disconnectedCallback() {
    this.disconnect();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue || !this.isConnected) return;
    if (this.rpc || (name === "url" && newValue)) this._scheduleConnect();
  }

  /** Connect once after the current burst of attribute changes (url and token arrive apart). */
  _scheduleConnect() {
    if (this._connectQueued) return;
    this._connectQueued = true;
    queueMicrotask(() => {
      this._connectQueued = false;
      if (this.isConnected) this.connect();
    });
  }

  /** initializationOptions: the `options` property, else the attribute, else the embedded peer. */
  get options() {
    if (this._options) return this._options;
    const attr = this.getAttribute("options");
    if (attr) {
      try {
        return JSON.parse(attr);
      } catch {
        this._showError("the options attribute is not JSON; using the embedded peer");
      }
    }
    return DEFAULT_OPTIONS;
  }

  set options(value) {
    this._options = value;
  }

  /** The server's address with the token in its query. */
  get endpoint() {
    const url = this.getAttribute("url");
    if (!url) return null;
    const token = this.getAttribute("token");
    if (!token) return url;
    const u = new URL(url, location.href);
    u.searchParams.set("token", token);
    return u.toString();
  }

  async connect() {
    this.disconnect();
    const url = this.endpoint;
    if (!url) {
      this._showError("no server address: set the url attribute");
      return;
    }
    const rpc = new RpcSocket(url, {
      onNotification: (method, params) => this._onNotification(method, params),
      onClose: (error) => this._onClosed(rpc, error),
    });
    this.rpc = rpc;
    this._emit("connection", { state: "connecting" });
    this._showError("");
    this.status = null;
    this._render();
    this._setState("connecting…");
    try {
      await rpc.open();
      await rpc.request("initialize", {
        processId: null,
        clientInfo: { name: "vivavoce-chat", version: "0.1.0" },
        rootUri: null,
        capabilities: { window: { showMessage: {} } },
        initializationOptions: this.options,
      });
      rpc.notify("initialized", {});
    } catch (err) {
      if (this.rpc !== rpc) return;
      this.rpc = null;
      rpc.close();
      this._failed(`${displayUrl(url)}: ${err.message}`);
      return;
    }
    await this._load(rpc, displayUrl(url));
  }

  /**
   * Talk through `host` instead of a WebSocket: an editor that runs the server already (the
   * VS Code extension's panel). `host.request(method, params)` answers `realtime/*` requests and
   * the host passes the server's notifications to notify(). No initialize: the host did that.
   */
  async attach(host) {
    this.disconnect();
    this._host = host;
    const rpc = { request: (method, params) => host.request(method, params), close() {} };
    this.rpc = rpc;
    this._emit("connection", { state: "connecting" });
    this._showError("");
    this.status = null;
    this._render();
    this._setState("connecting…");
    await this._load(rpc, "the editor");
  }

  /** A notification from the server, handed over by the host given to attach(). */
  notify(method, params) {
    this._onNotification(method, params);
  }

  /** The voice lists and the status, once connected. */
  async _load(rpc, where) {
    try {
      const [voices, status] = await Promise.all([
        rpc.request("realtime/voices"), rpc.request("realtime/status"),
      ]);
      if (this.rpc !== rpc) return;
      this.voices = { realtime: voices.realtime, text: voices.text };
      this._onStatus(status);
      this._emit("connection", { state: "open" });
    } catch (err) {
      if (this.rpc !== rpc) return;
      this.rpc = null;
      rpc.close();
      this._failed(`${where}: ${err.message}`);
    }
  }

  disconnect() {
    if (!this.rpc) return;
    const rpc = this.rpc;
    this.rpc = null;
    rpc.close();
    this._emit("connection", { state: "closed" });
    this._render();
  }

  /** Any request, for host pages (e.g. realtime/interrupt). */
  async request(method, params) {
    if (!this.rpc) throw new Error("not connected");
    return this.rpc.request(method, params);
  }

  async start(voice) {
    const params = { mode: this.status?.mode ?? "realtime" };
    if (voice) params.voice = voice;
    this._onStatus(await this.request("realtime/start", params));
  }

  async stop() {
    this._onStatus(await this.request("realtime/stop"));
  }

  async sendText(text) {
    if (this.status?.state !== "live") await this.start();
    await this.request("realtime/sendText", { text });
  }

  // ---------------------------------------------------------------- events from the UI

  _wire() {
    const ui = this.ui;
    const guard = (fn) => async (...args) => {
      try {
        this._showError("");
        await fn(...args);
      } catch (err) {
        this._showError(err.message);
      }
    };
    ui.form.addEventListener("submit", guard(async (event) => {
      event.preventDefault();
      const text = ui.text.value.trim();
      if (!text) return;
      ui.text.value = "";
      this._fitText();
      await this.sendText(text);
    }));
    // Enter sends, Shift+Enter is a new line (code can be pasted or typed); the box grows.
    ui.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ui.form.requestSubmit();
      }
    });
    ui.text.addEventListener("input", () => this._fitText());
    ui.start.addEventListener("click", guard(async () => {
      if (!this.rpc) await (this._host ? this.attach(this._host) : this.connect()); // "Connect"
      else if (this._isActive()) await this.stop();
      else await this.start();
    }));
    ui.dictate.addEventListener("click", guard(async () => {
      const dictating = this.status?.mode === "dictation" && this._isActive();
      if (this._isActive()) await this.stop();
      if (!dictating) this._onStatus(await this.request("realtime/start", { mode: "dictation" }));
    }));
    ui.mode.addEventListener("click", guard(async () => {
      this._onStatus(await this.request("realtime/toggleMode"));
    }));
    ui.voice.addEventListener("change", guard(async () => {
      const voice = ui.voice.value;
      if (this._isActive()) await this.stop(); // a reconnect in the new voice
      await this.start(voice);
    }));
    ui.mute.addEventListener("click", guard(async () => {
      this._onStatus(await this.request("realtime/mute", { muted: !this.status?.muted }));
    }));
    const press = guard(async (pressed) => {
      if (pressed === this._pttDown) return;
      this._pttDown = pressed;
      ui.ptt.setAttribute("aria-pressed", String(pressed));
      this._onStatus(await this.request("realtime/pushToTalk", { pressed }));
    });
    ui.ptt.addEventListener("pointerdown", (event) => {
      ui.ptt.setPointerCapture?.(event.pointerId);
      press(true);
    });
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      ui.ptt.addEventListener(type, () => press(false));
    }
    ui.ptt.addEventListener("keydown", (event) => {
      if ((event.key === " " || event.key === "Enter") && !event.repeat) press(true);
    });
    ui.ptt.addEventListener("keyup", (event) => {
      if (event.key === " " || event.key === "Enter") press(false);
    });
  }

  // ---------------------------------------------------------------- events from the server

  _onNotification(method, params) {
    if (method === "realtime/status") this._onStatus(params);
    else if (method === "realtime/transcript") this._onTranscript(params);
    else if (method === "realtime/code") this._onCode(params);
    else if (method === "window/showMessage" && params && params.type <= 2) {
      this._showError(params.message);
    }
  }

  _onStatus(status) {
    if (!status || typeof status !== "object" || !status.state) return;
    this.status = status;
    if (status.error && status.state === "error") this._showError(status.error);
    this._render();
    this._emit("status", status);
  }

  _onTranscript(t) {
    if (!t || !t.itemId) return;
    const ui = this.ui;
    let el = this.turns.get(t.itemId);
    if (!el) {
      el = document.createElement("div");
      el.className = `turn ${t.role === "user" || t.role === "tool" ? t.role : "assistant"}`;
      el.dataset.itemId = t.itemId;
      el.dataset.role = t.role;
      el.setAttribute("part", `turn ${t.role}`);
      const prev = t.previousItemId && this.turns.get(t.previousItemId);
      if (prev) prev.after(el); else ui.log.append(el);
      this.turns.set(t.itemId, el);
      ui.empty.remove();
    }
    const nearBottom = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
    const before = el.vvText ?? "";
    el.vvText = t.final || t.text ? t.text : before + (t.delta ?? "");
    if (el.vvText !== before || !el.firstChild) {
      if (el.vvText.includes("```")) el.replaceChildren(...textNodes(el.vvText, this._insert));
      else el.textContent = el.vvText;
    }
    el.classList.toggle("streaming", !t.final);
    el.classList.toggle("interrupted", Boolean(t.interrupted));
    if (nearBottom) ui.log.scrollTop = ui.log.scrollHeight;
    this._emit("transcript", t);
  }

  /** Code the assistant shows instead of reading it aloud: a block of its own in the log,
   *  unless a reply already shows it (text mode's code blocks are in the reply's text). */
  _onCode(c) {
    if (!c || typeof c.id !== "string" || typeof c.code !== "string") return;
    const ui = this.ui;
    const code = c.code.trim();
    const replies = ui.log.querySelectorAll(".turn.assistant:not(.shown)");
    if (code && [...replies].some((el) => (el.vvText ?? "").includes(code))) {
      this._emit("code", c);
      return;
    }
    const el = document.createElement("div");
    el.className = "turn assistant shown";
    el.dataset.codeId = c.id;
    el.setAttribute("part", "turn code");
    const caption = document.createElement("div");
    caption.className = "caption";
    caption.textContent = [c.title, c.language].filter((x) => x).join(" · ") || "code";
    const insert = (code, language, button) => this._onInsert(code, language, button, c.id);
    el.append(caption, codeBlock(c.code, c.language, insert));
    ui.log.append(el);
    ui.empty.remove();
    ui.log.scrollTop = ui.log.scrollHeight;
    this._emit("code", c);
  }

  /** A code block's Insert button: the host inserts it (preventDefault), else the server
   *  inserts shown code at the editor's cursor; anything it cannot insert is copied. */
  async _onInsert(code, language, button, id) {
    const detail = id ? { code, language, id } : { code, language };
    const event = new CustomEvent("insert", { detail, bubbles: true, composed: true, cancelable: true });
    if (!this.dispatchEvent(event)) return;
    if (id && this.rpc) {
      try {
        const result = await this.request("realtime/insertCode", { id });
        if (result?.inserted) {
          button.textContent = "Inserted";
          return;
        }
      } catch {
        // no editor with a cursor (the chat page on its own): copied instead
      }
    }
    navigator.clipboard?.writeText(code).then(
      () => { button.textContent = "Copied"; },
      (err) => this._showError(`could not copy: ${err.message}`),
    );
  }

  _onClosed(rpc, error) {
    if (this.rpc !== rpc) return;
    this.rpc = null;
    this._failed(error.message);
  }

  _failed(message) {
    this._emit("connection", { state: "closed", error: message });
    this._showError(message);
    this._render();
  }

  // ---------------------------------------------------------------- rendering

  _isActive() {
    return ["live", "connecting", "reconnecting"].includes(this.status?.state);
  }

  _fitText() {
    const box = this.ui.text;
    box.style.height = "auto";
    box.style.height = `${box.scrollHeight + 2}px`;
  }

  _setState(text) {
    this.ui.state.textContent = text;
  }

  _render() {
    const ui = this.ui;
    const online = Boolean(this.rpc) && Boolean(this.status);
    const s = this.status ?? {};
    const audio = online ? audioUse(s) : "off";
    ui.live.hidden = audio !== "live";
    const texting = online && s.mode === "text" && s.state === "live";
    const quiet = audio === "dictating" ? "DICTATING" : audio === "wake" ? "WAKE WORD"
      : texting ? "TEXT" : "";
    ui.indicator.hidden = !quiet;
    ui.indicator.textContent = quiet;
    ui.indicator.classList.toggle("dictating", audio === "dictating");
    ui.indicator.classList.toggle("wake", audio === "wake");
    ui.indicator.title = audio === "wake"
      ? "Listening on this machine for the wake word: nothing is sent until it is said" : "";
    // A text conversation is "ready", not "live": live is the realtime call's word. A call the
    // server hung up for silence says so; the next message or push to talk calls again.
    const hungUp = s.state === "idle" && typeof s.hungUpAfter === "number";
    if (online) this._setState(texting ? "ready" : hungUp ? `idle (hung up after ${idleWords(s.hungUpAfter)})` : s.state);
    else if (!this.rpc) this._setState("offline");
    const usage = online && s.usage && s.usage.costUsd > 0 ? s.usage : null;
    ui.cost.hidden = !usage;
    ui.cost.textContent = usage ? usd(usage.costUsd) : "";
    ui.cost.title = usage
      ? `What this conversation has cost so far: ${usd(usage.costUsd)} (${usage.inputTokens} tokens in, ` +
        `${usage.outputTokens} out; ${Math.round(usage.audioInputSeconds)} s heard, ` +
        `${Math.round(usage.audioOutputSeconds)} s spoken)`
      : "What this conversation has cost so far";
    for (const el of [ui.mode, ui.voice, ui.mute, ui.ptt, ui.text, ui.send]) {
      el.disabled = !online;
    }
    ui.start.disabled = Boolean(this.rpc) && !online; // connecting
    const mode = s.mode ?? "realtime";
    ui.mode.textContent = `Mode: ${mode}`;
    ui.mode.dataset.mode = mode;
    ui.start.textContent = !this.rpc ? "Connect" : this._isActive() ? "Stop" : "Start";
    ui.dictate.disabled = !this.rpc || !online;
    ui.dictate.setAttribute("aria-pressed", String(mode === "dictation" && this._isActive()));
    ui.mute.setAttribute("aria-pressed", String(Boolean(s.muted)));
    ui.mute.textContent = s.muted ? "Unmute" : "Mute";
    if (!this._pttDown) ui.ptt.setAttribute("aria-pressed", String(Boolean(s.pushToTalk)));
    this._renderVoices(mode, s.voice);
    // inputLevel is dBFS; without a live microphone there is no reading (the server sends 0.0).
    const level = s.inputLevel;
    const reading = audio !== "off" && typeof level === "number" && level < 0;
    const fraction = reading ? Math.max(0, 1 - level / METER_FLOOR_DB) : 0;
    ui.meter.style.width = `${Math.round(fraction * 100)}%`;
    ui.level.textContent = reading ? `${level.toFixed(1)} dBFS` : "— dBFS";
  }

  _renderVoices(mode, voice) {
    const select = this.ui.voice;
    const list = [...(this.voices[mode] ?? [])];
    if (voice && !list.includes(voice)) list.push(voice);
    if (select.dataset.catalog !== `${mode}:${list.join(",")}`) {
      select.replaceChildren(...list.map((v) => new Option(v, v)));
      select.dataset.catalog = `${mode}:${list.join(",")}`;
    }
    if (voice) select.value = voice;
  }

  _showError(message) {
    const line = String(message ?? "").split("\n")[0];
    this.ui.error.textContent = line;
    this.ui.error.title = line;
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

if (!customElements.get("vivavoce-chat")) {
  customElements.define("vivavoce-chat", VivavoceChat);
  globalThis.VivavoceChat = VivavoceChat;
}
} // end of the block opened above DEFAULT_OPTIONS
