// The page the agents test drives: the official @openai/agents-realtime client, exactly as an
// app would use it (RealtimeAgent + RealtimeSession over the WebRTC transport, default model),
// plus a recorder of everything a user or a developer would notice going wrong.
//
// Bundled by esbuild into dist/page.js (see tests/web/agents_bundle.py); the test calls
// window.vivavoce.connect(...) and reads window.vivavoce.log over the DevTools protocol.
import {
  DEFAULT_OPENAI_REALTIME_MODEL,
  OpenAIRealtimeWebRTC,
  RealtimeAgent,
  RealtimeSession,
} from '@openai/agents-realtime';
// The SDK's own schema of server events (not exported from the package root). An event whose
// type the SDK knows but whose shape it rejects is silently downgraded to a "generic" event and
// ignored: record those, they are as bad as an error for the user.
import { realtimeServerEventSchema } from './node_modules/@openai/agents-realtime/dist/openaiRealtimeEvents.mjs';

const KNOWN = new Set(realtimeServerEventSchema.options.map((o) => o.shape.type.value));

const log = {
  errors: [], // session.on('error') and transport.on('error')
  uncaught: [], // exceptions thrown inside the SDK's listeners (e.g. a zod parse of an item)
  received: [], // every server event, raw
  sent: [], // every client event on the data channel
  rejected: [], // known event types the SDK's schema refused
  connection: [], // transport connection_change
  historyTexts: [],
};

function describe(error) {
  if (error === undefined || error === null) return String(error);
  if (error instanceof Error) return `${error.name}: ${error.message}\n${error.stack ?? ''}`;
  if (typeof error === 'object' && 'error' in error) return describe(error.error);
  try {
    return JSON.stringify(error);
  } catch {
    return String(error);
  }
}

window.addEventListener('error', (e) => {
  log.uncaught.push(describe(e.error ?? e.message));
  render(session?.history ?? []);
});
window.addEventListener('unhandledrejection', (e) => log.uncaught.push(describe(e.reason)));

// Record what the SDK sends (the transport has no event for it).
const send = RTCDataChannel.prototype.send;
RTCDataChannel.prototype.send = function (data) {
  try {
    log.sent.push(JSON.parse(data));
  } catch {
    log.sent.push({ unparsable: String(data).slice(0, 200) });
  }
  return send.call(this, data);
};

/** The text of one history item: typed text, or the transcript of audio. */
function itemText(item) {
  if (item.type !== 'message') return '';
  return (item.content ?? [])
    .map((part) => part.text ?? part.transcript ?? '')
    .filter(Boolean)
    .join(' ');
}

let session;
let transport;

/** What a person sees: the conversation so far and any error (for the failure screenshot). */
function render(history) {
  const pre = document.getElementById('log');
  if (!pre) return;
  const lines = history.map((item) => `${item.role ?? item.type}: ${itemText(item)}`);
  for (const e of [...log.errors, ...log.uncaught]) lines.push(`ERROR ${e.split('\n')[0]}`);
  pre.textContent = lines.join('\n');
}

window.vivavoce = {
  defaultModel: DEFAULT_OPENAI_REALTIME_MODEL,
  log,

  /** Connect as an app would; resolves once the SDK says it is connected. */
  async connect({ callsUrl, apiKey, model }) {
    const agent = new RealtimeAgent({
      name: 'Assistant',
      instructions: 'You are a helpful voice assistant. Answer briefly.',
    });
    transport = new OpenAIRealtimeWebRTC({ baseUrl: callsUrl });
    transport.on('*', (event) => {
      log.received.push(event);
      if (event && KNOWN.has(event.type)) {
        const parsed = realtimeServerEventSchema.safeParse(event);
        if (!parsed.success) {
          log.rejected.push({ event, issues: parsed.error.issues });
        }
      }
    });
    transport.on('error', (e) => log.errors.push(`transport: ${describe(e)}`));
    transport.on('connection_change', (status) => log.connection.push(status));
    // No model unless the test asks for one: the SDK's default, as most apps leave it.
    session = new RealtimeSession(agent, model ? { transport, model } : { transport });
    session.on('error', (e) => {
      log.errors.push(`session: ${describe(e)}`);
      render(session.history);
    });
    session.on('history_updated', (history) => {
      log.historyTexts = history.map(itemText);
      render(history);
    });
    await session.connect({ apiKey });
    return { status: transport.status, model: transport.currentModel, callId: transport.callId };
  },

  say(text) {
    session.sendMessage(text);
  },

  /** session.history in a form the test can read. */
  history() {
    return (session?.history ?? []).map((item) => ({
      itemId: item.itemId,
      type: item.type,
      role: item.role,
      status: item.status,
      text: itemText(item),
      content: item.content,
    }));
  },

  /** What the browser received on the audio track (the assistant's voice). */
  async audioReceived() {
    const pc = transport?.connectionState.peerConnection;
    if (!pc) return null;
    const stats = await pc.getStats();
    for (const report of stats.values()) {
      if (report.type === 'inbound-rtp' && report.kind === 'audio') {
        return {
          packetsReceived: report.packetsReceived ?? 0,
          totalAudioEnergy: report.totalAudioEnergy ?? 0,
        };
      }
    }
    return null;
  },

  status() {
    return transport?.status ?? 'none';
  },

  close() {
    session.close();
    return transport.status;
  },
};
