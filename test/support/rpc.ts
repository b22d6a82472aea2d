import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
/**
 * JSON-RPC over raw HTTP for every suite: a 2025-era session opened by hand
 * (so tests see headers, event ids and priming frames exactly as sent),
 * requests POSTed in it, answers read from JSON or SSE, the standalone GET
 * stream, DELETE, and the seed endpoint (`POST /mcp/sse`).
 */
import { fetchText, json, messagesOf, parseFrames, type SseMessage, SseReader, type Wire } from './sse.js';

export const LEGACY_VERSION = '2025-11-25';
export const MODERN_VERSION = '2026-07-28';
/** Both media types a Streamable HTTP POST must accept. */
export const ACCEPT_BOTH = 'application/json, text/event-stream';

export function rpc(id: number | string, method: string, params: Record<string, unknown> = {}): Wire {
  return { jsonrpc: '2.0', id, method, params };
}

export function notification(method: string, params?: Record<string, unknown>): Wire {
  return { jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) };
}

/** A tools/call request, with a progress token when given. */
export function toolCall(
  id: string | number,
  name: string,
  args: Record<string, unknown>,
  progressToken?: string,
): Wire {
  return rpc(id, 'tools/call', {
    name,
    arguments: args,
    ...(progressToken === undefined ? {} : { _meta: { progressToken } }),
  });
}

/** A 2025-era session opened with raw HTTP. */
export interface RawSession {
  sessionId: string;
  protocolVersion: string;
  /** Headers every later request of the session carries. */
  headers: Record<string, string>;
}

/** A session, or just its id (then at {@link LEGACY_VERSION}). */
export type SessionRef = RawSession | string;

function sessionOf(session: SessionRef): RawSession {
  if (typeof session !== 'string') return session;
  return {
    sessionId: session,
    protocolVersion: LEGACY_VERSION,
    headers: { 'mcp-session-id': session, 'mcp-protocol-version': LEGACY_VERSION },
  };
}

/** Headers for a POST in a session (`accept` included). */
export function sessionHeaders(session: SessionRef): Record<string, string> {
  return { accept: ACCEPT_BOTH, ...sessionOf(session).headers };
}

/** Headers for an SSE GET in a session, resuming after `lastEventId` when given. */
export function getHeaders(session: SessionRef, lastEventId?: string): Record<string, string> {
  return {
    accept: 'text/event-stream',
    ...sessionOf(session).headers,
    ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
  };
}

/** POSTs a JSON-RPC body (a string is sent as is) with the standard headers plus `headers`. */
export function post(
  mcpUrl: URL | string,
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

/** The JSON-RPC messages of a whole response body, JSON or SSE by its content type. */
export function messagesOfBody(contentType: string | undefined, text: string): Wire[] {
  if (contentType?.startsWith('text/event-stream')) return messagesOf(parseFrames(text));
  const parsed = JSON.parse(text) as Wire | Wire[];
  return Array.isArray(parsed) ? parsed : [parsed];
}

/** Options for {@link openRawSession}. */
export interface OpenSessionOptions {
  protocolVersion?: string;
  capabilities?: Record<string, unknown>;
  clientName?: string;
}

/**
 * Runs `initialize` + `notifications/initialized`, each on its own socket (no
 * pooled connection outlives it), and checks the answer: 200, a session id,
 * a result at the requested version, 202 for the notification.
 */
export async function openRawSession(
  mcpUrl: URL | string,
  options: OpenSessionOptions = {},
): Promise<RawSession> {
  const protocolVersion = options.protocolVersion ?? LEGACY_VERSION;
  const init = await fetchText(mcpUrl, {
    headers: { accept: ACCEPT_BOTH },
    body: rpc('init', 'initialize', {
      protocolVersion,
      capabilities: options.capabilities ?? {},
      clientInfo: { name: options.clientName ?? 'raw-fetch', version: '1.0.0' },
    }),
  });
  const sessionId = init.headers['mcp-session-id'];
  if (init.status !== 200) throw new Error(`initialize answered ${init.status}: ${init.text}`);
  if (typeof sessionId !== 'string') throw new Error('initialize answered without Mcp-Session-Id');
  const result = messagesOfBody(init.headers['content-type'], init.text).find((m) => m.id === 'init');
  const negotiated = (result?.result as { protocolVersion?: string } | undefined)?.protocolVersion;
  if (negotiated !== protocolVersion) {
    throw new Error(`negotiated ${String(negotiated)}, wanted ${protocolVersion}: ${init.text}`);
  }
  const headers = { 'mcp-session-id': sessionId, 'mcp-protocol-version': protocolVersion };
  const ack = await fetchText(mcpUrl, {
    headers: { accept: ACCEPT_BOTH, ...headers },
    body: notification('notifications/initialized'),
  });
  if (ack.status !== 202) throw new Error(`notifications/initialized answered ${ack.status}`);
  return { sessionId, protocolVersion, headers };
}

/** {@link openRawSession}, resolving to the session id only. */
export async function initSession(mcpUrl: URL | string, options: OpenSessionOptions = {}): Promise<string> {
  return (await openRawSession(mcpUrl, options)).sessionId;
}

/** GET the session's standalone stream, optionally resuming after `lastEventId`. */
export function getStream(
  mcpUrl: URL | string,
  session: SessionRef,
  lastEventId?: string,
  extraHeaders: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(mcpUrl, {
    method: 'GET',
    headers: { ...getHeaders(session, lastEventId), ...extraHeaders },
    ...(signal ? { signal } : {}),
  });
}

/** DELETE the session. */
export function deleteSession(mcpUrl: URL | string, session: SessionRef): Promise<Response> {
  return fetch(mcpUrl, { method: 'DELETE', headers: sessionOf(session).headers });
}

/** An open SSE response: the response, its reader, and an abort for its request. */
export interface OpenSse {
  response: Response;
  reader: SseReader;
  abort(): void;
}

async function openSse(request: (signal: AbortSignal) => Promise<Response>, what: string): Promise<OpenSse> {
  const controller = new AbortController();
  const response = await request(controller.signal);
  if (response.status !== 200)
    throw new Error(`${what} answered ${response.status}: ${await response.text()}`);
  return { response, reader: new SseReader(response.body!), abort: () => controller.abort() };
}

/** POSTs `body` in a session and returns its SSE answer (status 200 required). */
export function postSse(mcpUrl: URL | string, session: SessionRef, body: unknown): Promise<OpenSse> {
  return openSse((signal) => post(mcpUrl, body, sessionOf(session).headers, signal), 'POST');
}

/** Opens the standalone GET stream, or resumes after `lastEventId` (status 200 required). */
export function getSse(mcpUrl: URL | string, session: SessionRef, lastEventId?: string): Promise<OpenSse> {
  return openSse((signal) => getStream(mcpUrl, session, lastEventId, {}, signal), 'GET');
}

/** Reads messages from `stream` until `until` holds for one (included) or the stream ends. */
export function readUntil(
  stream: OpenSse,
  until: (m: SseMessage) => boolean,
  timeoutMs = 10_000,
): Promise<SseMessage[]> {
  return stream.reader.messagesUntil(until, timeoutMs);
}

/** Headers the seed's curl example sends. */
export const SEED_HEADERS = { accept: 'text/event-stream', 'content-type': 'application/json' };

/** A seed stream opened with `POST /mcp/sse`, welcome already read. */
export interface SeedStream {
  response: Response;
  reader: SseReader;
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
  const reader = new SseReader(response.body!);
  const welcome = await reader.nextEvent('welcome');
  const { result } = json<{ result: { connection_id: string } }>(welcome);
  return { response, reader, connectionId: result.connection_id, abort: () => controller.abort() };
}

/** `POST <base>/mcp/sse?connection_id=<id>`: a follow-up request on an open seed stream. */
export function followUp(base: string, connectionId: string, body: unknown): Promise<Response> {
  return fetch(`${base}/mcp/sse?connection_id=${encodeURIComponent(connectionId)}`, {
    method: 'POST',
    headers: SEED_HEADERS,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** Options for {@link modernRequest}. */
export interface ModernRequestOptions {
  clientInfo?: { name: string; version: string };
  capabilities?: Record<string, unknown>;
  progressToken?: string;
}

/**
 * A raw 2026-07-28 request: its headers (`Mcp-Method`, and `Mcp-Name` for a
 * tools/call) and its body, with the per-request envelope in `_meta`.
 *
 * @example
 * const { headers, body } = modernRequest(1, 'tools/call', { name: 'echo', arguments: { text: 'hi' } });
 * const s = await openStream(mcpUrl, { headers, body });
 */
export function modernRequest(
  id: string | number,
  method: string,
  params: Record<string, unknown> = {},
  options: ModernRequestOptions = {},
): { headers: Record<string, string>; body: Wire } {
  const name = method === 'tools/call' && typeof params.name === 'string' ? params.name : undefined;
  return {
    headers: {
      accept: ACCEPT_BOTH,
      'mcp-protocol-version': MODERN_VERSION,
      'mcp-method': method,
      ...(name === undefined ? {} : { 'mcp-name': name }),
    },
    body: rpc(id, method, {
      ...params,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
        'io.modelcontextprotocol/clientInfo': options.clientInfo ?? { name: 'raw', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': options.capabilities ?? {},
        ...(options.progressToken === undefined ? {} : { progressToken: options.progressToken }),
      },
    }),
  };
}

/**
 * A resumption (`GET` with `Last-Event-ID`) on a raw socket that reads the
 * status line and then never reads again, as a client that stalls would.
 * Resolves with the status; the socket is pushed to `sockets` for the caller
 * to destroy.
 */
export async function resumeWithoutReading(
  port: number,
  session: RawSession,
  lastEventId: string,
  sockets: Socket[],
): Promise<number> {
  const client = connect({ host: '127.0.0.1', port });
  sockets.push(client);
  client.on('error', () => {});
  await once(client, 'connect');
  const head = [
    'GET /mcp HTTP/1.1',
    `Host: 127.0.0.1:${port}`,
    'Accept: text/event-stream',
    `Mcp-Session-Id: ${session.sessionId}`,
    `Mcp-Protocol-Version: ${session.protocolVersion}`,
    `Last-Event-ID: ${lastEventId}`,
  ];
  client.write(`${head.join('\r\n')}\r\n\r\n`);
  const [chunk] = (await Promise.race([
    once(client, 'data'),
    new Promise((_, reject) => setTimeout(() => reject(new Error('no status line within 5 s')), 5_000)),
  ])) as [Buffer];
  client.pause();
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1]);
}
