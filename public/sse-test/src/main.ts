import type { Tool } from '@modelcontextprotocol/client';
import { EventLog } from './log.js';
import { showError, showResult } from './result.js';
import { renderSchemaForm } from './schema-form.js';
import { SdkSession } from './sdk-session.js';
import { SeedSession } from './seed-session.js';
import {
  CancelledError,
  type Closed,
  type ConnectOptions,
  type McpSession,
  type RevisionChoice,
  type SessionEvents,
  type TransportKind,
} from './session.js';
import { showTokenTarget } from './token-target.js';

/** How often the page asks `/readyz` while connected; a failed probe means the server is gone. */
const HEALTH_INTERVAL_MS = 3_000;
const HEALTH_TIMEOUT_MS = 2_500;

function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node as T;
}

const ui = {
  status: byId<HTMLParagraphElement>('status'),
  bootError: byId<HTMLElement>('boot-error'),
  connectForm: byId<HTMLFormElement>('connect-form'),
  serverUrl: byId<HTMLInputElement>('server-url'),
  transport: byId<HTMLSelectElement>('transport'),
  revisionRow: byId<HTMLElement>('revision-row'),
  revision: byId<HTMLSelectElement>('revision'),
  transportHint: byId<HTMLElement>('transport-hint'),
  token: byId<HTMLInputElement>('token'),
  tokenTarget: byId<HTMLElement>('token-target'),
  connect: byId<HTMLButtonElement>('connect'),
  disconnect: byId<HTMLButtonElement>('disconnect'),
  state: byId<HTMLElement>('st-state'),
  idLabel: byId<HTMLElement>('st-id-label'),
  id: byId<HTMLElement>('st-id'),
  protocol: byId<HTMLElement>('st-protocol'),
  uptime: byId<HTMLElement>('st-uptime'),
  pings: byId<HTMLElement>('st-pings'),
  lastPing: byId<HTMLElement>('st-last-ping'),
  reason: byId<HTMLElement>('st-reason'),
  health: byId<HTMLElement>('st-health'),
  ping: byId<HTMLButtonElement>('ping'),
  pingResult: byId<HTMLOutputElement>('ping-result'),
  listTools: byId<HTMLButtonElement>('list-tools'),
  tool: byId<HTMLSelectElement>('tool'),
  toolDescription: byId<HTMLElement>('tool-description'),
  toolForm: byId<HTMLFormElement>('tool-form'),
  toolArgs: byId<HTMLFieldSetElement>('tool-args'),
  call: byId<HTMLButtonElement>('call'),
  cancel: byId<HTMLButtonElement>('cancel'),
  progressBox: byId<HTMLElement>('progress-box'),
  progress: byId<HTMLProgressElement>('progress'),
  progressText: byId<HTMLElement>('progress-text'),
  result: byId<HTMLElement>('result'),
  log: byId<HTMLOListElement>('log'),
  logFilter: byId<HTMLSelectElement>('log-filter'),
  follow: byId<HTMLInputElement>('follow'),
  clearLog: byId<HTMLButtonElement>('clear-log'),
};

const log = new EventLog(ui.log, ui.logFilter, ui.follow);

type Phase = 'idle' | 'connecting' | 'connected' | 'resuming' | 'closed' | 'failed';

let session: McpSession | undefined;
let tools: Tool[] = [];
let collectArgs: () => Record<string, unknown> = () => ({});
let currentCall: AbortController | undefined;
let connectedAt = 0;
let pings = 0;
let lastPingAt = 0;
let ticker: ReturnType<typeof setInterval> | undefined;
let healthTimer: ReturnType<typeof setInterval> | undefined;

function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function setPhase(phase: Phase, text: string, detail = text): void {
  ui.status.dataset.state = phase;
  ui.status.textContent = text;
  ui.state.textContent = detail;
  const live = phase === 'connected' || phase === 'resuming';
  const busy = phase === 'connecting';
  ui.connect.disabled = live || busy;
  ui.disconnect.disabled = !live && !busy;
  for (const input of [ui.serverUrl, ui.transport, ui.revision, ui.token]) input.disabled = live || busy;
  ui.ping.disabled = !live;
  ui.listTools.disabled = !live;
  ui.tool.disabled = !live || tools.length === 0;
  ui.call.disabled = !live || ui.tool.value === '' || currentCall !== undefined;
}

function tick(): void {
  if (connectedAt > 0) ui.uptime.textContent = formatDuration(Date.now() - connectedAt);
  if (lastPingAt > 0) {
    ui.lastPing.textContent = `${new Date(lastPingAt).toLocaleTimeString()} (${formatDuration(Date.now() - lastPingAt)} ago)`;
  }
}

/** Asks `/readyz` whether the server is there: `ready`, `draining`, `unreachable`, … */
async function probeHealth(baseUrl: string): Promise<string> {
  let verdict: string;
  try {
    const res = await fetch(`${baseUrl}/readyz`, {
      cache: 'no-store',
      signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
    });
    const body = (await res.json().catch(() => ({}))) as { status?: string };
    verdict = body.status ?? `HTTP ${res.status}`;
  } catch {
    verdict = 'unreachable';
  }
  ui.health.textContent = `${verdict} (checked ${new Date().toLocaleTimeString()})`;
  ui.health.dataset.health = verdict;
  return verdict;
}

/** What a failed probe means for a live session. */
function closureFor(verdict: string): Closed | undefined {
  if (verdict === 'unreachable')
    return { reason: 'server_unreachable', detail: 'the server stopped answering (GET /readyz failed)' };
  if (verdict === 'draining')
    return { reason: 'shutdown', detail: 'the server is draining (GET /readyz: draining)' };
  return undefined;
}

/**
 * After a dropped stream or a transport error: a server that is gone or
 * draining ends the session; a healthy one means a drop the client resumes
 * (Streamable HTTP) or a session that ended with its stream (HTTP+SSE,
 * the streaming endpoint). A transport error with a healthy server changes nothing.
 */
async function checkServer(s: McpSession, baseUrl: string, cause: string, dropped: boolean): Promise<void> {
  const verdict = await probeHealth(baseUrl);
  if (s !== session) return;
  const closure = closureFor(verdict);
  if (closure) {
    log.add({ type: 'page', summary: `${cause}; server ${verdict}`, tone: 'error' });
    s.abandon(closure);
  } else if (!dropped) {
    return;
  } else if (s.resumable) {
    log.add({
      type: 'page',
      summary: `${cause}; server ${verdict}: the client resumes with Last-Event-ID`,
      tone: 'warn',
    });
    setPhase('resuming', 'Stream dropped — resuming', `${cause}; resuming`);
  } else {
    s.abandon({ reason: 'closed_by_server', detail: `${cause}; the session ended with its stream` });
  }
}

function eventsFor(baseUrl: string, own: () => McpSession | undefined): SessionEvents {
  const mine = () => own() !== undefined && own() === session;
  return {
    log,
    info(patch) {
      if (!mine()) return;
      if (patch.idLabel !== undefined) ui.idLabel.textContent = patch.idLabel;
      if (patch.id !== undefined) ui.id.textContent = patch.id;
      if (patch.protocol !== undefined) ui.protocol.textContent = patch.protocol;
    },
    pinged() {
      if (!mine()) return;
      pings++;
      lastPingAt = Date.now();
      ui.pings.textContent = String(pings);
      tick();
    },
    dropped(detail) {
      const s = own();
      if (!s || !mine()) return;
      setPhase('resuming', 'Stream dropped — checking the server', detail);
      void checkServer(s, baseUrl, detail, true);
    },
    resumed() {
      if (!mine() || ui.status.dataset.state !== 'resuming') return;
      log.add({ type: 'page', summary: 'stream resumed', tone: 'ok' });
      setPhase('connected', 'Connected', 'connected (stream resumed)');
    },
    troubled() {
      const s = own();
      if (!s || !mine()) return;
      void checkServer(s, baseUrl, 'the transport reported an error', false);
    },
    closed(why) {
      if (!mine()) return;
      onClosed(why);
    },
  };
}

function onClosed(why: Closed): void {
  session = undefined;
  currentCall?.abort();
  clearInterval(ticker);
  clearInterval(healthTimer);
  tick();
  ui.reason.textContent = `${why.reason} — ${why.detail}`;
  ui.reason.dataset.reason = why.reason;
  log.add({ type: 'page', summary: `disconnected: ${why.reason} (${why.detail})`, tone: 'warn' });
  setPhase('closed', `Disconnected: ${why.reason}`, `disconnected: ${why.detail}`);
  ui.connect.focus();
}

function resetLiveInfo(): void {
  pings = 0;
  lastPingAt = 0;
  connectedAt = 0;
  ui.pings.textContent = '0';
  ui.lastPing.textContent = '—';
  ui.uptime.textContent = '—';
  ui.id.textContent = '—';
  ui.protocol.textContent = '—';
  ui.reason.textContent = '—';
  delete ui.reason.dataset.reason;
  ui.pingResult.textContent = '';
}

function connectOptions(): ConnectOptions {
  return {
    baseUrl: ui.serverUrl.value.trim().replace(/\/+$/, ''),
    transport: ui.transport.value as TransportKind,
    revision: ui.revision.value as RevisionChoice,
    token: ui.token.value.trim(),
  };
}

async function connect(): Promise<void> {
  const options = connectOptions();
  resetLiveInfo();
  let created: McpSession | undefined;
  const events = eventsFor(options.baseUrl, () => created);
  created = options.transport === 'seed' ? new SeedSession(options, events) : new SdkSession(options, events);
  session = created;
  ui.idLabel.textContent = options.transport === 'seed' ? 'Connection id' : 'Session id';
  setPhase(
    'connecting',
    'Connecting…',
    `connecting to ${options.baseUrl} (${ui.transport.selectedOptions[0]?.text})`,
  );
  log.add({
    type: 'page',
    summary: `connecting: ${ui.transport.selectedOptions[0]?.text} at ${options.baseUrl}`,
  });
  try {
    await created.connect();
  } catch (error) {
    if (session !== created) return;
    session = undefined;
    created.abandon({ reason: 'connect_failed', detail: String(error) });
    const message = error instanceof Error ? error.message : String(error);
    ui.reason.textContent = `connect_failed — ${message}`;
    log.add({ type: 'page', summary: `connect failed: ${message}`, tone: 'error' });
    setPhase('failed', 'Connection failed', `connection failed: ${message}`);
    void probeHealth(options.baseUrl);
    return;
  }
  if (session !== created) return;
  connectedAt = Date.now();
  ticker = setInterval(tick, 1_000);
  const live = created;
  healthTimer = setInterval(() => {
    void probeHealth(options.baseUrl).then((verdict) => {
      if (live !== session) return;
      if (ui.status.dataset.state === 'connected') {
        ui.state.textContent =
          verdict === 'ready' ? 'connected' : `connected; the server answers /readyz with: ${verdict}`;
      }
      // A stateless connection has nothing else to go by. One with a stream is judged by the
      // stream: a draining server refuses new connections while its streams still flow.
      if (verdict === 'unreachable' && !live.holdsStream) {
        const closure = closureFor(verdict);
        if (closure) live.abandon(closure);
      }
    });
  }, HEALTH_INTERVAL_MS);
  void probeHealth(options.baseUrl);
  tick();
  log.add({ type: 'page', summary: 'connected', tone: 'ok' });
  setPhase('connected', 'Connected', 'connected');
}

async function disconnect(): Promise<void> {
  const s = session;
  if (!s) return;
  ui.disconnect.disabled = true;
  await s.disconnect();
}

function selectTool(name: string): void {
  const tool = tools.find((t) => t.name === name);
  ui.result.replaceChildren();
  ui.progressBox.hidden = true;
  if (!tool) {
    ui.toolArgs.replaceChildren();
    ui.toolDescription.textContent = '';
    collectArgs = () => ({});
    ui.call.disabled = true;
    return;
  }
  ui.toolDescription.textContent = tool.description ?? '';
  const legend = document.createElement('legend');
  legend.textContent = `Arguments for ${tool.name}`;
  collectArgs = renderSchemaForm(ui.toolArgs, tool.inputSchema);
  ui.toolArgs.prepend(legend);
  ui.call.disabled = session === undefined || currentCall !== undefined;
}

async function listTools(): Promise<void> {
  const s = session;
  if (!s) return;
  ui.listTools.disabled = true;
  try {
    tools = await s.listTools();
    const previous = ui.tool.value;
    ui.tool.replaceChildren();
    const placeholder = document.createElement('option');
    placeholder.value = '';
    placeholder.textContent = tools.length === 0 ? '(the server offers no tools)' : '— choose a tool —';
    ui.tool.append(placeholder);
    for (const tool of tools) {
      const option = document.createElement('option');
      option.value = tool.name;
      option.textContent = tool.title ? `${tool.title} (${tool.name})` : tool.name;
      ui.tool.append(option);
    }
    ui.tool.value = tools.some((t) => t.name === previous) ? previous : '';
    ui.tool.disabled = tools.length === 0;
    selectTool(ui.tool.value);
    log.add({ type: 'page', summary: `${tools.length} tools: ${tools.map((t) => t.name).join(', ')}` });
  } catch (error) {
    showError(ui.result, 'tools/list', error, false);
  } finally {
    ui.listTools.disabled = session === undefined;
  }
}

function showProgress(progress: number, total: number | undefined, message: string | undefined): void {
  ui.progressBox.hidden = false;
  if (total !== undefined && total > 0) {
    ui.progress.max = total;
    ui.progress.value = progress;
  } else {
    ui.progress.removeAttribute('value');
  }
  const counts = total !== undefined ? `${progress} / ${total}` : `${progress}`;
  ui.progressText.textContent = message ? `${counts} — ${message}` : counts;
}

async function callTool(): Promise<void> {
  const s = session;
  const name = ui.tool.value;
  if (!s || name === '') return;
  let args: Record<string, unknown>;
  try {
    args = collectArgs();
  } catch (error) {
    ui.toolForm.reportValidity();
    showError(ui.result, name, error, false);
    return;
  }
  const aborter = new AbortController();
  currentCall = aborter;
  ui.call.disabled = true;
  ui.cancel.disabled = false;
  ui.result.replaceChildren();
  ui.result.dataset.outcome = 'running';
  ui.progressBox.hidden = false;
  ui.progress.removeAttribute('value');
  ui.progressText.textContent = 'running…';
  const started = performance.now();
  try {
    const result = await s.callTool(name, args, {
      signal: aborter.signal,
      onprogress: (p) => showProgress(p.progress, p.total, p.message),
    });
    showResult(ui.result, name, result, Math.round(performance.now() - started));
    // The bar keeps the last progress the client saw; a call that sent none needs no bar.
    if (ui.progressText.textContent === 'running…') ui.progressBox.hidden = true;
    else ui.progressText.textContent += ' · finished';
  } catch (error) {
    showError(ui.result, name, error, error instanceof CancelledError || aborter.signal.aborted);
  } finally {
    currentCall = undefined;
    ui.cancel.disabled = true;
    ui.call.disabled = session === undefined || ui.tool.value === '';
  }
}

async function ping(): Promise<void> {
  const s = session;
  if (!s) return;
  ui.ping.disabled = true;
  const started = performance.now();
  try {
    const sent = await s.ping();
    const ms = (performance.now() - started).toFixed(1);
    ui.pingResult.textContent =
      sent === 'ping' ? `pong in ${ms} ms` : `${sent} answered in ${ms} ms (this revision has no ping)`;
  } catch (error) {
    ui.pingResult.textContent = `ping failed: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    ui.ping.disabled = session === undefined;
  }
}

/** What each choice does on the wire, shown under the selects. */
const HINTS: Record<string, string> = {
  'streamable:legacy':
    'initialize opens a session (Mcp-Session-Id); replies stream on each POST; a GET stream carries server messages and pings, and resumes with Last-Event-ID.',
  'streamable:2026-07-28':
    'Every request stands alone (server/discover, _meta envelope); a stream lives only while its request runs; closing it cancels the call.',
  'streamable:auto':
    'The SDK client probes with server/discover and falls back to the 2025 initialize handshake if the server is older.',
  legacy:
    'GET /sse opens the stream and announces POST /messages?sessionId=…; replies arrive on the stream. The session ends with the stream.',
  seed: 'POST /mcp/sse opens the stream (welcome, response, error, notification, ping, close events); each request is a POST to ?connection_id=….',
};

/** The endpoints hang off the folder the page is served from (the origin, unless mounted under a prefix). */
function defaultServerUrl(): string {
  const here = new URL('.', location.href);
  return here.href.replace(/\/$/, '');
}

function init(): void {
  ui.bootError.remove();
  const params = new URLSearchParams(location.search);
  ui.serverUrl.value = params.get('url') ?? defaultServerUrl();
  showTokenTarget(ui.serverUrl, ui.tokenTarget, location.origin);
  const transport = params.get('transport');
  if (transport && [...ui.transport.options].some((o) => o.value === transport))
    ui.transport.value = transport;
  const showRevision = () => {
    const streamable = ui.transport.value === 'streamable';
    ui.revisionRow.hidden = !streamable;
    ui.transportHint.textContent =
      HINTS[streamable ? `streamable:${ui.revision.value}` : ui.transport.value] ?? '';
  };
  ui.transport.addEventListener('change', showRevision);
  ui.revision.addEventListener('change', showRevision);
  showRevision();
  ui.connectForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void connect();
  });
  ui.disconnect.addEventListener('click', () => void disconnect());
  ui.listTools.addEventListener('click', () => void listTools());
  ui.tool.addEventListener('change', () => selectTool(ui.tool.value));
  ui.toolForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void callTool();
  });
  ui.cancel.addEventListener('click', () => currentCall?.abort());
  ui.ping.addEventListener('click', () => void ping());
  ui.clearLog.addEventListener('click', () => log.clear());
  window.addEventListener('pagehide', () => void session?.disconnect());
  setPhase('idle', 'Not connected', 'not connected');
}

init();
