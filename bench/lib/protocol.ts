import { type HttpConnection, type HttpResponse, headerOf } from './http-client.js';

/**
 * The MCP wire as the bench clients speak it: request bodies and headers,
 * pre-rendered once, for each way a server can be driven, and the checks
 * every reply goes through.
 */

/** How `tools/call` reaches a server. */
export type CallMode =
  /** Plain JSON-RPC over POST, no MCP session (the raw node:http ceiling). */
  | 'plain'
  /** 2025-11-25 Streamable HTTP session; the reply is SSE or JSON, whichever the server picks. */
  | 'session'
  /** 2026-07-28: stateless, `_meta` envelope, `Mcp-Method`/`Mcp-Name` headers. */
  | 'modern'
  /** Legacy HTTP+SSE (2024-11-05): POST to the announced endpoint, reply on the GET /sse stream. */
  | 'http-sse';

export const SESSION_VERSION = '2025-11-25';
export const MODERN_VERSION = '2026-07-28';

const MODERN_META = `"_meta":{"io.modelcontextprotocol/protocolVersion":"${MODERN_VERSION}","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`;

export function baseHeaders(port: number): string {
  return `host: 127.0.0.1:${port}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\n`;
}

export function sessionHeaders(port: number, sessionId: string): string {
  return `${baseHeaders(port)}mcp-session-id: ${sessionId}\r\nmcp-protocol-version: ${SESSION_VERSION}\r\n`;
}

export function modernHeaders(port: number, method: string, name?: string): string {
  const nameHeader = name === undefined ? '' : `mcp-name: ${name}\r\n`;
  return `${baseHeaders(port)}mcp-protocol-version: ${MODERN_VERSION}\r\nmcp-method: ${method}\r\n${nameHeader}`;
}

export function initializeBody(version = SESSION_VERSION): string {
  return `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"${version}","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`;
}

export const INITIALIZED_BODY = '{"jsonrpc":"2.0","method":"notifications/initialized"}';

/** A `tools/call` of `echo` with `text`, in the mode's body shape. */
export function echoCallBody(mode: CallMode, id: number, text: string): string {
  const meta = mode === 'modern' ? `,${MODERN_META}` : '';
  return `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"${text}"}${meta}}}`;
}

/** A `tools/call` of `hold` that asks for progress, so the first SSE event says the tool runs. */
export function holdCallBody(mode: CallMode, id: number, ms: number): string {
  const meta =
    mode === 'modern'
      ? MODERN_META.replace('"_meta":{', '"_meta":{"progressToken":"p1",')
      : '"_meta":{"progressToken":"p1"}';
  return `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"hold","arguments":{"ms":${ms}},${meta}}}`;
}

export function listenBody(id: string): string {
  return `{"jsonrpc":"2.0","id":"${id}","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true},${MODERN_META}}}`;
}

/** The JSON-RPC messages carried by an SSE body (`data:` lines). */
export function sseMessages(body: string): unknown[] {
  const out: unknown[] = [];
  let at = body.indexOf('data: {');
  while (at !== -1) {
    const end = body.indexOf('\n', at);
    out.push(JSON.parse(body.slice(at + 6, end === -1 ? undefined : end)));
    at = body.indexOf('data: {', at + 6);
  }
  return out;
}

/** The messages of a reply, whether the server answered JSON or SSE. */
export function replyMessages(res: HttpResponse): unknown[] {
  const type = headerOf(res.head, 'content-type') ?? '';
  if (type.startsWith('text/event-stream')) return sseMessages(res.body);
  if (res.body === '') return [];
  const parsed = JSON.parse(res.body) as unknown;
  return Array.isArray(parsed) ? parsed : [parsed];
}

interface RpcMessage {
  id?: unknown;
  result?: { content?: Array<{ text?: unknown }> };
  error?: unknown;
}

/** Whether `message` is the echo result for request `id` carrying `text`. */
export function isEchoReply(message: unknown, id: number, text: string): boolean {
  const m = message as RpcMessage;
  return m.id === id && m.result?.content?.[0]?.text === text;
}

/** Checks a whole `tools/call` reply; returns an error string or undefined. */
export function checkEchoReply(res: HttpResponse, id: number, text: string): string | undefined {
  if (res.status !== 200) return `status ${res.status}`;
  const messages = replyMessages(res);
  return messages.some((m) => isEchoReply(m, id, text)) ? undefined : `bad reply: ${res.body.slice(0, 200)}`;
}

/** Opens a 2025-11-25 session on `conn`: initialize + notifications/initialized. Returns its id. */
/**
 * Opens a 2025 session (`initialize` + `notifications/initialized`); with
 * `use`, also asks it one `tools/list`, so a server that builds a session's
 * protocol object on demand has built it.
 */
export async function openSession(conn: HttpConnection, port: number, use = false): Promise<string> {
  const init = await conn.request('POST', '/mcp', baseHeaders(port), initializeBody());
  const id = headerOf(init.head, 'mcp-session-id');
  if (init.status !== 200 || id === undefined) {
    throw new Error(`initialize failed: ${init.status} ${init.body.slice(0, 200)}`);
  }
  const done = await conn.request('POST', '/mcp', sessionHeaders(port, id), INITIALIZED_BODY);
  if (done.status !== 202 && done.status !== 200) throw new Error(`initialized failed: ${done.status}`);
  if (use) {
    const list = await conn.request(
      'POST',
      '/mcp',
      sessionHeaders(port, id),
      '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}',
    );
    if (list.status !== 200 || !list.body.includes('"echo"'))
      throw new Error(`tools/list failed: ${list.status}`);
  }
  return id;
}

/** Incremental SSE frame splitter: feed text, get whole frames. */
export class SseSplitter {
  private buf = '';

  push(text: string): string[] {
    this.buf += text.includes('\r') ? text.replace(/\r\n?/g, '\n') : text;
    const frames: string[] = [];
    let end = this.buf.indexOf('\n\n');
    while (end !== -1) {
      frames.push(this.buf.slice(0, end));
      this.buf = this.buf.slice(end + 2);
      end = this.buf.indexOf('\n\n');
    }
    return frames;
  }
}

/** The `data:` of an SSE frame (joined), or undefined. */
export function frameData(frame: string): string | undefined {
  let data: string | undefined;
  for (const line of frame.split('\n')) {
    if (line.startsWith('data:')) {
      const v = line.slice(line.startsWith('data: ') ? 6 : 5);
      data = data === undefined ? v : `${data}\n${v}`;
    }
  }
  return data;
}

/** The `event:` of an SSE frame, or `message`. */
export function frameEvent(frame: string): string {
  for (const line of frame.split('\n')) if (line.startsWith('event:')) return line.slice(6).trim();
  return 'message';
}
