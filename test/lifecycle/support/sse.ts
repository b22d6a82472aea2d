import { once } from 'node:events';
import { type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';

/** One complete SSE frame as a client sees it. */
export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  retry?: number;
  /** Comment lines without the leading `:` and one space, e.g. `ping`. */
  comments: string[];
}

/** Splits SSE text into complete frames (a trailing partial frame is left out). */
export function parseFrames(text: string): SseFrame[] {
  const blocks = text.split('\n\n');
  blocks.pop();
  return blocks.map((block) => {
    const frame: SseFrame = { comments: [] };
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) {
        frame.comments.push(line.slice(1).trimStart());
        continue;
      }
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') frame.id = value;
      else if (field === 'event') frame.event = value;
      else if (field === 'retry') frame.retry = Number(value);
      else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
    }
    return frame;
  });
}

/** A JSON-RPC message carried by a frame's data, if any. */
export function messageOf(frame: SseFrame): Record<string, unknown> | undefined {
  if (frame.data === undefined || frame.data === '') return undefined;
  return JSON.parse(frame.data) as Record<string, unknown>;
}

/** The JSON-RPC messages carried by `frames`, in order. */
export function messagesOf(frames: SseFrame[]): Array<Record<string, unknown>> {
  return frames.flatMap((f) => {
    const m = messageOf(f);
    return m === undefined ? [] : [m];
  });
}

/** An HTTP response read as it arrives, over `node:http` without an agent. */
export interface StreamingResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text(): string;
  frames(): SseFrame[];
  /** Resolves once the received text satisfies `predicate`; rejects after `timeoutMs`. */
  until(predicate: (text: string) => boolean, timeoutMs?: number, what?: string): Promise<string>;
  /** 'end' for a clean end of the body, 'reset' for a connection dropped mid-body. */
  ended: Promise<'end' | 'reset'>;
  destroy(): void;
}

/** Options for {@link openStream}. */
export interface OpenStreamOptions {
  method?: string;
  headers?: Record<string, string>;
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
export async function openStream(url: URL, options: OpenStreamOptions = {}): Promise<StreamingResponse> {
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  const req = request(url, {
    method: options.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    agent: false,
  });
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
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    text: () => text,
    frames: () => parseFrames(text),
    until(predicate, timeoutMs = 5_000, what = 'stream text') {
      if (predicate(text)) return Promise.resolve(text);
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate(text)) return;
          done();
          resolve(text);
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(text)}`),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          watchers.delete(check);
        };
        watchers.add(check);
      });
    },
    ended,
    destroy: () => req.destroy(),
  };
}

/** Sends one request and reads the whole body. */
export async function fetchText(
  url: URL,
  options: OpenStreamOptions = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  const s = await openStream(url, options);
  await s.ended;
  return { status: s.status, headers: s.headers, text: s.text() };
}
