/**
 * Raw SSE helpers for the transport, n8n and nginx suites: a frame reader
 * that keeps comments and stamps every frame with its arrival time, the
 * seed endpoint opened with plain `fetch`, and a tap that records when the
 * server wrote each frame (same process, same clock), so a suite can tell
 * how long a frame took to reach the client.
 */
import type { ConnectionRegistry, SseConnection } from '../../../src/index.js';

/** One SSE block as it arrived: fields, comment lines, and `performance.now()` at arrival. */
export interface Frame {
  event?: string;
  /** Joined `data:` lines; `undefined` when the block had none. */
  data?: string;
  id?: string;
  retry?: number;
  comments: string[];
  receivedAt: number;
}

/** Reads SSE blocks from a fetch body, one at a time, each read bounded. */
export class FrameReader {
  private readonly reader: ReadableStreamDefaultReader<string>;
  private buffer = '';
  private ended = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next block, or `undefined` once the stream has ended. Rejects after `timeoutMs`. */
  async next(timeoutMs = 5_000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.take();
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

  /** The next block with an `event:` field equal to `name` (others are skipped). */
  async nextEvent(name: string, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.next(Math.max(deadline - Date.now(), 1));
      if (frame === undefined) throw new Error(`stream ended before an "${name}" event`);
      if (frame.event === name) return frame;
    }
  }

  /** Every block until the stream ends; rejects if it does not end within `timeoutMs`. */
  async rest(timeoutMs = 5_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    const frames: Frame[] = [];
    for (;;) {
      const frame = await this.next(Math.max(deadline - Date.now(), 1));
      if (frame === undefined) return frames;
      frames.push(frame);
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }

  private take(): Frame | undefined {
    const end = this.buffer.indexOf('\n\n');
    if (end === -1) return undefined;
    const block = this.buffer.slice(0, end);
    this.buffer = this.buffer.slice(end + 2);
    const frame: Frame = { comments: [], receivedAt: performance.now() };
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        frame.comments.push(line.slice(1).trim());
        continue;
      }
      const colon = line.indexOf(':');
      const name = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'id') frame.id = value;
      else if (name === 'event') frame.event = value;
      else if (name === 'retry') frame.retry = Number(value);
      else if (name === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
    }
    return frame;
  }
}

/** The parsed `data:` of a frame. */
export function json<T = Record<string, unknown>>(frame: Frame): T {
  if (frame.data === undefined) throw new Error(`frame without data: ${JSON.stringify(frame)}`);
  return JSON.parse(frame.data) as T;
}

/** Headers the seed's curl example sends. */
export const SEED_HEADERS = { accept: 'text/event-stream', 'content-type': 'application/json' };

/** A seed stream opened with `POST /mcp/sse`, welcome already read. */
export interface SeedStream {
  response: Response;
  reader: FrameReader;
  connectionId: string;
  abort(): void;
}

/**
 * Opens `POST <base>/mcp/sse` with an optional body (a string is sent as is)
 * and reads the `welcome` event.
 */
export async function openSeed(base: string, body?: unknown): Promise<SeedStream> {
  const controller = new AbortController();
  const response = await fetch(`${base}/mcp/sse`, {
    method: 'POST',
    headers: SEED_HEADERS,
    body: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body),
    signal: controller.signal,
  });
  if (response.status !== 200) throw new Error(`POST /mcp/sse answered ${response.status}`);
  const reader = new FrameReader(response.body!);
  const welcome = await reader.nextEvent('welcome');
  const { result } = json<{ result: { connection_id: string } }>(welcome);
  return {
    response,
    reader,
    connectionId: result.connection_id,
    abort: () => controller.abort(),
  };
}

/** `POST <base>/mcp/sse?connection_id=<id>`: a follow-up request on an open seed stream. */
export function followUp(base: string, connectionId: string, body: unknown): Promise<Response> {
  return fetch(`${base}/mcp/sse?connection_id=${encodeURIComponent(connectionId)}`, {
    method: 'POST',
    headers: SEED_HEADERS,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export function rpc(id: string | number, method: string, params: Record<string, unknown> = {}) {
  return { jsonrpc: '2.0', id, method, params };
}

/** A frame the server wrote, with `performance.now()` at the write. */
export interface WrittenFrame {
  connectionId: string;
  text: string;
  writtenAt: number;
}

/**
 * Records every frame the server writes to streams opened from now on. It
 * wraps each new connection's `write` (the real write still happens), so the
 * time a frame left the server can be compared with its arrival.
 * Returns the list it fills and a function that stops recording.
 */
export function tapWrites(registry: ConnectionRegistry): { written: WrittenFrame[]; stop(): void } {
  const written: WrittenFrame[] = [];
  const stop = registry.listen({
    opened(connection: SseConnection) {
      const write = connection.write.bind(connection);
      connection.write = (frame) => {
        const text = typeof frame === 'string' ? frame : Buffer.from(frame).toString('utf8');
        written.push({ connectionId: connection.id, text, writtenAt: performance.now() });
        return write(frame);
      };
    },
  });
  return { written, stop };
}

/** Rejects with `what` when `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve function, for gating a setup or a tool from the test. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
