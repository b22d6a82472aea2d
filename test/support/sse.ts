/**
 * Reading SSE as a client sees it, for every suite: frames parsed from raw
 * text, a reader over a fetch body or a node:http response (each read bounded,
 * comments kept, every frame stamped with its arrival time), a request sent on
 * its own socket whose text can be awaited as it arrives, and a tap that
 * records when the server wrote each frame.
 */
import { once } from 'node:events';
import { type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';
import { Readable } from 'node:stream';
import type { ConnectionRegistry, SseConnection } from '../../src/index.js';
import { FrameSplitter, type ParsedFrame, parseBlock } from './sse-frames.mjs';

/** One SSE block: its fields and comment lines. */
export type SseFrame = ParsedFrame;

/** A frame read by {@link SseReader}, with `performance.now()` at its arrival. */
export interface ReceivedFrame extends SseFrame {
  receivedAt: number;
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

/** Splits SSE text into complete frames (a trailing partial frame is left out). */
export function parseFrames(text: string): SseFrame[] {
  const blocks = text.replace(/\r\n?/g, '\n').split('\n\n');
  blocks.pop();
  return blocks.flatMap((block) => parseBlock(block) ?? []);
}

/** The JSON-RPC message a frame's data carries, if any. */
export function messageOf(frame: SseFrame): Wire | undefined {
  if (frame.data === undefined || frame.data === '') return undefined;
  return JSON.parse(frame.data) as Wire;
}

/** The JSON-RPC messages carried by `frames`, in order. */
export function messagesOf(frames: SseFrame[]): Wire[] {
  return frames.flatMap((f) => messageOf(f) ?? []);
}

/** The parsed `data:` of a frame; throws when it has none. */
export function json<T = Record<string, unknown>>(frame: SseFrame): T {
  if (frame.data === undefined) throw new Error(`frame without data: ${JSON.stringify(frame)}`);
  return JSON.parse(frame.data) as T;
}

/** A frame's JSON-RPC message with the frame's event id. */
export interface SseMessage {
  id: string | undefined;
  message: Wire;
}

/**
 * Reads SSE frames one at a time from a fetch body or a node:http response;
 * every read is bounded by a timeout.
 *
 * @example
 * const sse = new SseReader(res.body!);
 * const priming = await sse.next();
 * const answer = await sse.nextMessage(3_000);
 */
export class SseReader {
  /** Every comment line seen so far, in order. */
  readonly comments: string[] = [];
  private readonly reader: ReadableStreamDefaultReader<string>;
  private readonly splitter = new FrameSplitter();
  private readonly queue: ReceivedFrame[] = [];
  private ended = false;

  constructor(body: ReadableStream<Uint8Array> | Readable) {
    const web = body instanceof Readable ? (Readable.toWeb(body) as ReadableStream<Uint8Array>) : body;
    this.reader = web.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** The next frame (comment-only ones too), or `undefined` once the stream has ended. Rejects after `timeoutMs`. */
  async next(timeoutMs = 5_000): Promise<ReceivedFrame | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.queue.shift();
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
      else this.receive(chunk.value);
    }
  }

  /** The next frame matching `predicate` (others are skipped); rejects at the end of the stream or after `timeoutMs`. */
  async find(
    predicate: (frame: ReceivedFrame) => boolean,
    timeoutMs = 5_000,
    what = 'a matching frame',
  ): Promise<ReceivedFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.next(Math.max(deadline - Date.now(), 1));
      if (frame === undefined) throw new Error(`stream ended before ${what}`);
      if (predicate(frame)) return frame;
    }
  }

  /** The next frame with an `event:` field equal to `name`. */
  nextEvent(name: string, timeoutMs = 5_000): Promise<ReceivedFrame> {
    return this.find((f) => f.event === name, timeoutMs, `an "${name}" event`);
  }

  /** The next frame that carries a JSON-RPC message, parsed, with its event id; `undefined` at the end. */
  async nextMessage(timeoutMs = 5_000): Promise<SseMessage | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = await this.next(Math.max(deadline - Date.now(), 1));
      if (frame === undefined) return undefined;
      const message = messageOf(frame);
      if (message !== undefined) return { id: frame.id, message };
    }
  }

  /**
   * Messages until one satisfies `until` (included) or the stream ends; rejects
   * if neither happens within `timeoutMs`.
   */
  async messagesUntil(until: (m: SseMessage) => boolean, timeoutMs = 10_000): Promise<SseMessage[]> {
    const out: SseMessage[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.nextMessage(Math.max(deadline - Date.now(), 1));
      if (m === undefined) return out;
      out.push(m);
      if (until(m)) return out;
    }
  }

  /** Every frame until the stream ends; rejects if it does not end within `timeoutMs`. */
  async rest(timeoutMs = 5_000): Promise<ReceivedFrame[]> {
    const deadline = Date.now() + timeoutMs;
    const frames: ReceivedFrame[] = [];
    for (;;) {
      const frame = await this.next(Math.max(deadline - Date.now(), 1));
      if (frame === undefined) return frames;
      frames.push(frame);
    }
  }

  /** Stops reading; the body is cancelled (a fetch aborts its socket). */
  async cancel(): Promise<void> {
    try {
      await this.reader.cancel();
    } catch {
      // already errored: nothing left to cancel
    }
  }

  private receive(text: string): void {
    const receivedAt = performance.now();
    for (const frame of this.splitter.push(text)) {
      this.comments.push(...frame.comments);
      this.queue.push({ ...frame, receivedAt });
    }
  }
}

/** An HTTP response read as it arrives, over `node:http` without an agent. */
export interface StreamingResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text(): string;
  frames(): SseFrame[];
  /** Resolves once the received text satisfies `predicate`; rejects after `timeoutMs`. */
  until(predicate: (text: string) => boolean, timeoutMs?: number, what?: string): Promise<string>;
  /** Resolves with the first complete frame (received or to come) matching `predicate`. */
  frame(predicate: (frame: SseFrame) => boolean, timeoutMs?: number, what?: string): Promise<SseFrame>;
  /** 'end' for a clean end of the body, 'reset' for a connection dropped mid-body. */
  ended: Promise<'end' | 'reset'>;
  destroy(): void;
}

/** Options for {@link openStream}. */
export interface OpenStreamOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent as JSON; a string is sent as is. */
  body?: unknown;
}

/**
 * Sends one request on a fresh socket and resolves at the response head.
 *
 * @example
 * const s = await openStream(mcpUrl, { headers: { accept: 'text/event-stream', 'mcp-session-id': id } });
 * await s.until((t) => t.includes(': ping'));
 * s.destroy();
 */
export async function openStream(
  url: URL | string,
  options: OpenStreamOptions = {},
): Promise<StreamingResponse> {
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === 'string'
        ? options.body
        : JSON.stringify(options.body);
  const req = request(url, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    agent: false,
  });
  // A request the test destroys, or a server that resets it, shows in `ended`.
  req.on('error', () => {});
  req.end(body);
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  res.on('error', () => {});
  res.setEncoding('utf8');
  let text = '';
  const watchers = new Set<() => void>();
  res.on('data', (chunk: string) => {
    text += chunk;
    for (const w of [...watchers]) w();
  });
  const ended = new Promise<'end' | 'reset'>((resolve) => {
    res.once('end', () => resolve('end'));
    res.once('close', () => resolve(res.complete ? 'end' : 'reset'));
  });
  const until = (predicate: (text: string) => boolean, timeoutMs = 5_000, what = 'stream text') => {
    if (predicate(text)) return Promise.resolve(text);
    return new Promise<string>((resolve, reject) => {
      const check = () => {
        if (!predicate(text)) return;
        done();
        resolve(text);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(text)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        watchers.delete(check);
      };
      watchers.add(check);
    });
  };
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    text: () => text,
    frames: () => parseFrames(text),
    until,
    async frame(predicate, timeoutMs = 5_000, what = 'a matching frame') {
      await until((t) => parseFrames(t).some(predicate), timeoutMs, what);
      return parseFrames(text).find(predicate)!;
    },
    ended,
    destroy: () => req.destroy(),
  };
}

/** Sends one request on a fresh socket and reads the whole body. */
export async function fetchText(
  url: URL | string,
  options: OpenStreamOptions = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  const s = await openStream(url, options);
  await s.ended;
  return { status: s.status, headers: s.headers, text: s.text() };
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
