/** Raw 2025-era Streamable HTTP over fetch, for driving several nodes by hand. */
import { FrameReader, json } from '../../transports/support/sse.js';

export const POST_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};
export const VERSION = '2025-11-25';

export function rpc(id: string | number, method: string, params: Record<string, unknown> = {}) {
  return { jsonrpc: '2.0', id, method, params };
}

/** Initializes a session on `base` and sends `notifications/initialized`; returns the session id. */
export async function initialize(base: string, capabilities: Record<string, unknown> = {}): Promise<string> {
  const res = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: POST_HEADERS,
    body: JSON.stringify(
      rpc(0, 'initialize', {
        protocolVersion: VERSION,
        capabilities,
        clientInfo: { name: 'cluster-test', version: '1' },
      }),
    ),
  });
  if (res.status !== 200) throw new Error(`initialize answered ${res.status}: ${await res.text()}`);
  const sessionId = res.headers.get('mcp-session-id');
  if (!sessionId) throw new Error('no Mcp-Session-Id');
  const reader = new FrameReader(res.body!);
  for (;;) {
    const frame = await reader.next();
    if (frame === undefined) throw new Error('initialize stream ended without a result');
    if (frame.data?.includes('"result"')) break;
  }
  const ack = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: { ...POST_HEADERS, 'mcp-session-id': sessionId, 'mcp-protocol-version': VERSION },
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  if (ack.status !== 202) throw new Error(`notifications/initialized answered ${ack.status}`);
  return sessionId;
}

export interface OpenStream {
  response: Response;
  reader: FrameReader;
  abort(): void;
}

/** POSTs a body in a session and returns its SSE response stream. */
export async function post(base: string, sessionId: string, body: unknown): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: { ...POST_HEADERS, 'mcp-session-id': sessionId, 'mcp-protocol-version': VERSION },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  if (response.status !== 200) throw new Error(`POST answered ${response.status}: ${await response.text()}`);
  return { response, reader: new FrameReader(response.body!), abort: () => controller.abort() };
}

/** Opens the standalone GET stream, or resumes with `lastEventId`. */
export async function get(base: string, sessionId: string, lastEventId?: string): Promise<OpenStream> {
  const controller = new AbortController();
  const response = await fetch(`${base}/mcp`, {
    headers: {
      accept: 'text/event-stream',
      'mcp-session-id': sessionId,
      'mcp-protocol-version': VERSION,
      ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
    },
    signal: controller.signal,
  });
  if (response.status !== 200) throw new Error(`GET answered ${response.status}: ${await response.text()}`);
  return { response, reader: new FrameReader(response.body!), abort: () => controller.abort() };
}

export interface Message {
  eventId: string | undefined;
  message: Record<string, unknown> & { id?: unknown; method?: string; params?: Record<string, unknown> };
}

/** Reads message frames until `until` holds for one (inclusive) or the stream ends. */
export async function readUntil(
  stream: OpenStream,
  until: (m: Message) => boolean,
  timeoutMs = 10_000,
): Promise<Message[]> {
  const out: Message[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const frame = await stream.reader.next(Math.max(1, deadline - Date.now()));
    if (frame === undefined) return out;
    if (!frame.data) continue;
    const m: Message = { eventId: frame.id, message: json(frame) };
    out.push(m);
    if (until(m)) return out;
  }
}
