import type { CallToolResult, Tool } from '@modelcontextprotocol/client';
import type { EventSourceMessage } from 'eventsource-parser';
import {
  type CallOptions,
  CancelledError,
  type Closed,
  type ConnectOptions,
  type McpSession,
  type SessionEvents,
} from './session.js';
import { Wire } from './wire.js';

/** A JSON-RPC error as the seed endpoint sends it in an `error` event. */
export class RpcError extends Error {
  override readonly name = 'RpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
  onprogress?: CallOptions['onprogress'] | undefined;
}

interface RpcMessage {
  jsonrpc?: string;
  id?: string | number | null;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

function parse(text: string): RpcMessage | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as RpcMessage) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `POST /mcp/sse`, the seed's streaming endpoint. It is a POST, so the
 * browser's `EventSource` cannot open it and no SDK transport speaks it: the
 * page reads the stream with fetch + `eventsource-parser` (in {@link Wire})
 * and posts each request to `?connection_id=<id>`; answers come back on the
 * stream as `response` / `error` events, progress as `notification`.
 */
export class SeedSession implements McpSession {
  readonly resumable = false;
  readonly holdsStream = true;
  private readonly wire: Wire;
  private readonly aborter = new AbortController();
  private readonly pending = new Map<string | number, Pending>();
  private readonly headers: Record<string, string>;
  private connectionId: string | undefined;
  private nextId = 1;
  private welcomed: { resolve(): void; reject(error: Error): void } | undefined;
  private closeReason: string | undefined;
  private ending = false;
  private over = false;

  constructor(
    private readonly options: ConnectOptions,
    private readonly events: SessionEvents,
  ) {
    this.headers = {
      'Content-Type': 'application/json',
      Accept: 'text/event-stream',
      ...(options.token === '' ? {} : { Authorization: `Bearer ${options.token}` }),
    };
    this.wire = new Wire(events.log, {
      event: (event) => this.onEvent(event),
      end: (how, stream) => {
        if (stream.method !== 'POST' || !stream.label.endsWith('/mcp/sse')) return;
        this.onStreamEnd(how);
      },
    });
  }

  async connect(): Promise<void> {
    const welcome = new Promise<void>((resolve, reject) => {
      this.welcomed = { resolve, reject };
    });
    const { res } = await this.wire.open(`${this.options.baseUrl}/mcp/sse`, {
      method: 'POST',
      headers: this.headers,
      body: '',
      signal: this.aborter.signal,
    });
    if (!res.ok) {
      this.over = true;
      throw new Error(`POST /mcp/sse answered ${res.status} ${res.statusText}: ${await res.text()}`);
    }
    await welcome;
    this.events.info({
      idLabel: 'Connection id',
      id: this.connectionId ?? '—',
      protocol: 'server-side handshake (the endpoint initializes for the client)',
    });
  }

  async listTools(): Promise<Tool[]> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = (await this.request('tools/list', cursor === undefined ? {} : { cursor })) as {
        tools: Tool[];
        nextCursor?: string;
      };
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return tools;
  }

  async callTool(name: string, args: Record<string, unknown>, options: CallOptions): Promise<CallToolResult> {
    return (await this.request('tools/call', { name, arguments: args }, options)) as CallToolResult;
  }

  async ping(): Promise<string> {
    await this.request('ping', {});
    return 'ping';
  }

  async disconnect(): Promise<void> {
    if (this.over) return;
    this.ending = true;
    this.aborter.abort();
    this.wire.dispose();
    this.finish({ reason: 'client_disconnect', detail: 'the page closed the stream' });
  }

  abandon(why: Closed): void {
    if (this.over) return;
    this.ending = true;
    this.aborter.abort();
    this.wire.dispose();
    this.finish(why);
  }

  /** Sends a request as a follow-up POST; the answer arrives on the stream. */
  private async request(
    method: string,
    params: Record<string, unknown>,
    call?: CallOptions,
  ): Promise<unknown> {
    if (this.connectionId === undefined || this.over) throw new Error('not connected');
    const id = this.nextId++;
    const withToken = call ? { ...params, _meta: { progressToken: `page-${id}` } } : params;
    const answer = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onprogress: call?.onprogress });
    });
    const onAbort = () => {
      this.pending.get(id)?.reject(new CancelledError());
      this.pending.delete(id);
      void this.post({
        jsonrpc: '2.0',
        method: 'notifications/cancelled',
        params: { requestId: id, reason: 'Cancelled from the test page' },
      }).catch(() => {});
    };
    call?.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.post({ jsonrpc: '2.0', id, method, params: withToken });
      return await answer;
    } catch (error) {
      this.pending.delete(id);
      throw error;
    } finally {
      call?.signal.removeEventListener('abort', onAbort);
    }
  }

  private async post(message: RpcMessage): Promise<void> {
    const res = await this.wire.fetch(
      `${this.options.baseUrl}/mcp/sse?connection_id=${encodeURIComponent(this.connectionId ?? '')}`,
      { method: 'POST', headers: this.headers, body: JSON.stringify(message) },
    );
    const text = await res.text();
    if (res.status !== 202) throw new Error(`follow-up POST answered ${res.status}: ${text}`);
  }

  private onEvent(event: EventSourceMessage): void {
    const message = parse(event.data);
    switch (event.event) {
      case 'welcome': {
        const result = message?.result as { connection_id?: string } | undefined;
        this.connectionId = result?.connection_id;
        this.welcomed?.resolve();
        return;
      }
      case 'ping':
        this.events.pinged();
        return;
      case 'close':
        this.closeReason = (message as { reason?: string } | undefined)?.reason ?? 'unknown';
        return;
      case 'response':
      case 'error':
        if (message?.id === undefined || message.id === null) {
          // An error about a body that could not be read has no id to match.
          if (message?.error)
            this.events.log.add({ type: 'page', summary: message.error.message, tone: 'error' });
          return;
        }
        this.settle(message);
        return;
      case 'notification':
        if (message?.method === 'notifications/progress') this.progress(message.params ?? {});
        return;
      case 'request':
        if (message) this.answerServerRequest(message);
        return;
    }
  }

  private settle(message: RpcMessage): void {
    const id = message.id as string | number;
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    if (message.error)
      pending.reject(new RpcError(message.error.code, message.error.message, message.error.data));
    else pending.resolve(message.result);
  }

  private progress(params: Record<string, unknown>): void {
    const token = params.progressToken;
    const id = typeof token === 'string' && token.startsWith('page-') ? Number(token.slice(5)) : Number.NaN;
    this.pending.get(id)?.onprogress?.({
      progress: Number(params.progress),
      total: typeof params.total === 'number' ? params.total : undefined,
      message: typeof params.message === 'string' ? params.message : undefined,
    });
  }

  /** The page offers no client capabilities: `ping` is answered, anything else is refused. */
  private answerServerRequest(message: RpcMessage): void {
    const reply =
      message.method === 'ping'
        ? { jsonrpc: '2.0', id: message.id, result: {} }
        : {
            jsonrpc: '2.0',
            id: message.id,
            error: { code: -32601, message: `The test page does not handle ${message.method}` },
          };
    if (message.method === 'ping') this.events.pinged();
    void this.post(reply).catch(() => {});
  }

  private onStreamEnd(how: 'server' | 'client' | 'network'): void {
    const error = new Error(
      this.closeReason ? `the stream closed (${this.closeReason})` : 'the stream ended before the answer',
    );
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
    if (this.connectionId === undefined) {
      // Ended before the welcome: connect() reports it.
      this.over = true;
      this.welcomed?.reject(error);
      return;
    }
    if (this.ending || this.over || how === 'client') return;
    if (this.closeReason !== undefined) {
      this.finish({ reason: this.closeReason, detail: 'the server sent a close event' });
    } else {
      this.events.dropped(how === 'server' ? 'the stream ended without a close event' : 'the stream broke');
    }
  }

  private finish(why: Closed): void {
    if (this.over) return;
    this.over = true;
    this.events.closed(why);
  }
}
