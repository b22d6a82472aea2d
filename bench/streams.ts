import { createInterface } from 'node:readline';
import { HttpConnection } from './lib/http-client.js';
import {
  baseHeaders,
  frameData,
  frameEvent,
  holdCallBody,
  INITIALIZED_BODY,
  initializeBody,
  listenBody,
  modernHeaders,
  openSession,
  SseSplitter,
  sessionHeaders,
} from './lib/protocol.js';

/**
 * The stream holder: opens and holds many initialized sessions, each with its
 * SSE stream on its own socket, and takes commands on stdin (one JSON object a
 * line): `open`, `close` (FIN or RST, one at a time), `fanout` (wait until
 * every stream saw a list-changed notification), `abort` (start `hold` calls
 * and drop them), `sessions`, `stats`, `exit`. Each answer is one JSON line on
 * stdout. Liveness pings (JSON-RPC `ping` on the stream) are answered the way
 * a real client answers them. Times are µs on CLOCK_MONOTONIC, comparable with
 * the server's marks.
 */
export type StreamKind = 'raw' | 'session-get' | 'session-get-used' | 'listen' | 'http-sse' | 'seed';

export interface StreamsOptions {
  kind: StreamKind;
  port: number;
  /** Openings in flight at once. */
  parallel: number;
  /** Source addresses to spread sockets over (loopback has ~28k ports per source address). */
  localAddresses: string[];
}

interface Held {
  conn: HttpConnection;
  sessionId: string | undefined;
  /** Where JSON-RPC replies to this stream's server requests go (legacy SSE endpoint or /mcp). */
  replyPath: string;
  closedByUs: boolean;
  notifiedUs: number | undefined;
}

const options = JSON.parse(process.argv[2] ?? '{}') as StreamsOptions;
const { port, kind } = options;
const HOST = '127.0.0.1';
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const held: Held[] = [];
let addressTurn = 0;
let pingsSeen = 0;
let pingReplies = 0;
let closedByServer = 0;
let fanoutWaiter: (() => void) | undefined;
let fanoutExpected = 0;
let notified = 0;

function nextAddress(): string | undefined {
  const list = options.localAddresses;
  if (list.length === 0) return undefined;
  return list[addressTurn++ % list.length];
}

function emit(line: unknown): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Keep-alive connections for the POSTs (initialize, ping replies), one queue. */
class Pool {
  private readonly idle: HttpConnection[] = [];
  private readonly waiters: Array<(c: HttpConnection) => void> = [];
  private created = 0;

  constructor(private readonly size: number) {}

  async use<T>(fn: (c: HttpConnection) => Promise<T>): Promise<T> {
    const conn = await this.acquire();
    try {
      return await fn(conn);
    } finally {
      this.release(conn);
    }
  }

  private async acquire(): Promise<HttpConnection> {
    for (;;) {
      const c = this.idle.pop();
      if (c && !c.closed) return c;
      if (!c) break;
      this.created--;
    }
    if (this.created < this.size) {
      this.created++;
      const c = new HttpConnection({ host: HOST, port, localAddress: nextAddress() });
      await c.connected();
      return c;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private release(c: HttpConnection): void {
    if (c.closed) {
      this.created--;
      const w = this.waiters.shift();
      if (w) void this.acquire().then(w);
      return;
    }
    const w = this.waiters.shift();
    if (w) w(c);
    else this.idle.push(c);
  }
}

const pool = new Pool(Math.max(8, Math.min(64, options.parallel)));

function onFrame(h: Held, frame: string): void {
  if (frame.startsWith(':')) {
    pingsSeen++;
    return;
  }
  const data = frameData(frame);
  if (data === undefined || !data.startsWith('{')) return;
  if (data.includes('"notifications/tools/list_changed"') && h.notifiedUs === undefined) {
    h.notifiedUs = nowUs();
    notified++;
    if (fanoutWaiter && notified >= fanoutExpected) fanoutWaiter();
  }
  if (data.includes('"method":"ping"')) {
    pingsSeen++;
    const id = (JSON.parse(data) as { id?: unknown }).id;
    const body = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{}}`;
    const headers = h.sessionId === undefined ? baseHeaders(port) : sessionHeaders(port, h.sessionId);
    void pool
      .use((c) => c.request('POST', h.replyPath, headers, body))
      .then(
        () => pingReplies++,
        () => {},
      );
  } else if (frameEvent(frame) === 'ping') {
    pingsSeen++;
  }
}

/** Opens one stream; resolves once it is established (first expected frame, or headers). */
async function openOne(n: number): Promise<void> {
  let sessionId: string | undefined;
  if (kind === 'session-get' || kind === 'session-get-used')
    sessionId = await pool.use((c) => openSession(c, port, kind === 'session-get-used'));
  const conn = new HttpConnection({ host: HOST, port, localAddress: nextAddress() });
  await conn.connected();
  const h: Held = { conn, sessionId, replyPath: '/mcp', closedByUs: false, notifiedUs: undefined };
  const splitter = new SseSplitter();
  let method = 'GET';
  let path = '/mcp';
  let headers = `host: 127.0.0.1:${port}\r\naccept: text/event-stream\r\n`;
  let body = '';
  if (sessionId !== undefined) headers = sessionHeaders(port, sessionId);
  else if (kind === 'listen') {
    method = 'POST';
    headers = modernHeaders(port, 'subscriptions/listen');
    body = listenBody(`listen-${n}`);
  } else if (kind === 'http-sse') path = '/sse';
  else if (kind === 'seed') {
    method = 'POST';
    path = '/mcp/sse';
    headers = `host: 127.0.0.1:${port}\r\ncontent-type: application/json\r\naccept: text/event-stream\r\n`;
  }
  const waitsForFrame = kind === 'listen' || kind === 'http-sse' || kind === 'seed';
  await new Promise<void>((resolve, reject) => {
    let established = false;
    conn.stream(method, path, headers, body, {
      onHead(status) {
        if (status !== 200) reject(new Error(`${method} ${path}: ${status}`));
        else if (!waitsForFrame) {
          established = true;
          resolve();
        }
      },
      onData(text) {
        for (const frame of splitter.push(text)) {
          if (!established) {
            if (kind === 'http-sse' && frameEvent(frame) === 'endpoint') h.replyPath = frameData(frame) ?? '';
            if (frameData(frame) !== undefined) {
              established = true;
              resolve();
            }
            continue;
          }
          onFrame(h, frame);
        }
      },
      onEnd(error) {
        if (!established) reject(error ?? new Error('stream ended before it was established'));
        else if (!h.closedByUs) closedByServer++;
      },
    });
  });
  if (kind === 'http-sse') {
    // Initialize the legacy session too: its replies come back on the stream, which we do not wait for.
    await pool.use(async (c) => {
      await c.request('POST', h.replyPath, baseHeaders(port), initializeBody('2024-11-05'));
      await c.request('POST', h.replyPath, baseHeaders(port), INITIALIZED_BODY);
    });
  }
  held.push(h);
}

async function open(count: number, timeoutMs: number): Promise<void> {
  const started = nowUs();
  const deadline = started + timeoutMs * 1000;
  let timedOut = false;
  let failures = 0;
  const errorSamples: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      if (nowUs() > deadline) {
        timedOut = true;
        return;
      }
      // A server that refuses every new stream (a cap) ends the batch instead of the time budget.
      if (failures >= 200 && failures > held.length) return;
      const n = next++;
      try {
        await openOne(held.length + n);
      } catch (err) {
        failures++;
        if (errorSamples.length < 3) errorSamples.push(String(err).slice(0, 200));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.parallel, count) }, worker));
  const ms = (nowUs() - started) / 1000;
  emit({ event: 'opened', total: held.length, failures, ms, errorSamples, timedOut });
}

async function close(count: number, how: 'fin' | 'rst', gapMs: number): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const h = held.pop();
    if (!h) break;
    h.closedByUs = true;
    times.push(nowUs());
    if (how === 'fin') h.conn.end();
    else h.conn.reset();
    await sleep(gapMs);
  }
  emit({ event: 'closed', times });
}

async function fanout(timeoutMs: number): Promise<void> {
  const live = () => held.filter((h) => !h.conn.closed);
  fanoutExpected = live().length;
  const done = new Promise<void>((resolve) => {
    fanoutWaiter = resolve;
    if (notified >= fanoutExpected) resolve();
  });
  await Promise.race([done, sleep(timeoutMs)]);
  fanoutWaiter = undefined;
  const times = held.flatMap((h) => (h.notifiedUs === undefined ? [] : [h.notifiedUs]));
  emit({ event: 'fanout', expected: live().length, received: times.length, times });
  for (const h of held) h.notifiedUs = undefined;
  notified = 0;
}

/** Starts `count` `hold` calls one after another and drops each once it is running; returns the drop times. */
async function abortCalls(count: number, gapMs: number, how: 'fin' | 'rst'): Promise<void> {
  const times: number[] = [];
  const errorSamples: string[] = [];
  let sessionHeadersValue: string | undefined;
  if (kind === 'session-get')
    sessionHeadersValue = sessionHeaders(port, await pool.use((c) => openSession(c, port)));
  for (let i = 0; i < count; i++) {
    const conn = new HttpConnection({ host: HOST, port, localAddress: nextAddress() });
    try {
      await conn.connected();
      const headers = sessionHeadersValue ?? modernHeaders(port, 'tools/call', 'hold');
      const body = holdCallBody(sessionHeadersValue ? 'session' : 'modern', i + 1, 30_000);
      const splitter = new SseSplitter();
      await new Promise<void>((resolve, reject) => {
        conn.stream('POST', '/mcp', headers, body, {
          onHead(status) {
            if (status !== 200) reject(new Error(`hold: ${status}`));
          },
          onData(text) {
            for (const frame of splitter.push(text)) {
              if (frameData(frame)?.includes('notifications/progress')) resolve();
            }
          },
          onEnd(error) {
            reject(error ?? new Error('hold stream ended before progress'));
          },
        });
      });
      times.push(nowUs());
      if (how === 'fin') conn.end();
      else conn.reset();
    } catch (err) {
      if (errorSamples.length < 3) errorSamples.push(String(err).slice(0, 200));
      conn.destroy();
    }
    await sleep(gapMs);
  }
  emit({ event: 'aborted', times, errorSamples });
}

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const c = JSON.parse(line) as {
    cmd: string;
    count?: number;
    how?: 'fin' | 'rst';
    gapMs?: number;
    timeoutMs?: number;
  };
  const run = async () => {
    switch (c.cmd) {
      case 'open':
        return open(c.count ?? 1, c.timeoutMs ?? 600_000);
      case 'close':
        return close(c.count ?? 1, c.how ?? 'fin', c.gapMs ?? 10);
      case 'fanout':
        return fanout(c.timeoutMs ?? 10_000);
      case 'abort':
        return abortCalls(c.count ?? 1, c.gapMs ?? 10, c.how ?? 'fin');
      case 'sessions':
        return emit({
          event: 'sessions',
          ids: held.flatMap((h) => (h.sessionId ? [h.sessionId] : [])).slice(0, c.count ?? 20),
        });
      case 'stats':
        return emit({
          event: 'stats',
          open: held.filter((h) => !h.conn.closed).length,
          pingsSeen,
          pingReplies,
          closedByServer,
        });
      case 'exit':
        process.exit(0);
    }
  };
  run().catch((err: unknown) => emit({ event: 'error', message: String(err) }));
});
emit({ event: 'ready' });
