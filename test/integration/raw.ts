/**
 * Raw HTTP helpers for the integration suites: a small SSE frame reader and
 * a 2025-era session opened with plain `fetch`, so tests can see event ids,
 * priming events, `retry` hints and keepalive comments exactly as sent.
 */

/** One SSE frame as written by the server (comments are kept apart). */
export interface SseFrame {
  id?: string;
  event?: string;
  /** Joined `data:` lines; `undefined` when the frame had no data field. */
  data?: string;
  retry?: number;
}

/** A JSON-RPC message as seen on the wire. */
export type Wire = Record<string, unknown> & {
  jsonrpc: '2.0';
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
};

/** Reads SSE frames from a fetch body, one at a time, with a timeout per read. */
export class SseReader {
  readonly comments: string[] = [];
  private readonly reader: ReadableStreamDefaultReader<string>;
  private buffer = '';
  private ended = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next frame, or `undefined` once the stream has ended. Rejects after `timeoutMs`. */
  async next(timeoutMs = 5_000): Promise<SseFrame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.takeFrame();
      if (frame !== undefined) return frame;
      if (this.ended) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no SSE frame within ${timeoutMs} ms`);
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk === 'timeout') throw new Error(`no SSE frame within ${timeoutMs} ms`);
      if (chunk.done) this.ended = true;
      else this.buffer += chunk.value.replace(/\r\n?/g, '\n');
    }
  }

  /** The next frame that carries a JSON-RPC message, parsed, with its event id. */
  async nextMessage(timeoutMs = 5_000): Promise<{ id: string | undefined; message: Wire } | undefined> {
    for (;;) {
      const frame = await this.next(timeoutMs);
      if (frame === undefined) return undefined;
      if (frame.data === undefined || frame.data === '') continue;
      return { id: frame.id, message: JSON.parse(frame.data) as Wire };
    }
  }

  /** Reads frames until the stream ends; rejects if it does not end within `timeoutMs`. */
  async rest(timeoutMs = 5_000): Promise<SseFrame[]> {
    const deadline = Date.now() + timeoutMs;
    const frames: SseFrame[] = [];
    for (;;) {
      const frame = await this.next(Math.max(deadline - Date.now(), 1));
      if (frame === undefined) return frames;
      frames.push(frame);
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }

  private takeFrame(): SseFrame | undefined {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end === -1) return undefined;
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const frame: SseFrame = {};
      let fields = 0;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments.push(line.slice(1).trim());
          continue;
        }
        const colon = line.indexOf(':');
        const name = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        fields++;
        if (name === 'id') frame.id = value;
        else if (name === 'event') frame.event = value;
        else if (name === 'retry') frame.retry = Number(value);
        else if (name === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
      }
      if (fields > 0) return frame;
    }
  }
}

/** Both media types a Streamable HTTP POST must accept. */
export const ACCEPT_BOTH = 'application/json, text/event-stream';

export function rpc(id: number | string, method: string, params: Record<string, unknown> = {}): Wire {
  return { jsonrpc: '2.0', id, method, params };
}

/** POSTs a JSON-RPC body to `/mcp` with the standard headers plus `headers`. */
export function post(
  mcpUrl: URL,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_BOTH, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

/** A 2025-era session opened with raw HTTP. */
export interface RawSession {
  sessionId: string;
  protocolVersion: string;
  /** Headers every later request of the session carries. */
  headers: Record<string, string>;
}

/** Runs `initialize` + `notifications/initialized` over plain fetch. */
export async function openRawSession(mcpUrl: URL, protocolVersion = '2025-11-25'): Promise<RawSession> {
  const res = await post(
    mcpUrl,
    rpc(0, 'initialize', {
      protocolVersion,
      capabilities: {},
      clientInfo: { name: 'raw-fetch', version: '1.0.0' },
    }),
  );
  if (res.status !== 200) throw new Error(`initialize answered ${res.status}: ${await res.text()}`);
  const sessionId = res.headers.get('mcp-session-id');
  if (sessionId === null) throw new Error('initialize answered without Mcp-Session-Id');
  const sse = new SseReader(res.body!);
  const init = await sse.nextMessage();
  await sse.rest();
  const negotiated = (init?.message.result as { protocolVersion?: string } | undefined)?.protocolVersion;
  if (negotiated !== protocolVersion)
    throw new Error(`negotiated ${String(negotiated)}, wanted ${protocolVersion}`);
  const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': protocolVersion };
  const ack = await post(mcpUrl, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  await ack.arrayBuffer();
  if (ack.status !== 202) throw new Error(`notifications/initialized answered ${ack.status}`);
  return { sessionId, protocolVersion, headers };
}

/** GET `/mcp` for a session, optionally resuming after `lastEventId`. */
export function getStream(
  mcpUrl: URL,
  session: RawSession,
  lastEventId?: string,
  extraHeaders: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(mcpUrl, {
    method: 'GET',
    headers: {
      accept: 'text/event-stream',
      ...session.headers,
      ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
      ...extraHeaders,
    },
    ...(signal ? { signal } : {}),
  });
}
