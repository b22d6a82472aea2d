import {
  type CallToolResult,
  Client,
  SSEClientTransport,
  StreamableHTTPClientTransport,
  type Tool,
} from '@modelcontextprotocol/client';
import type { EventSourceMessage } from 'eventsource-parser';
import {
  type CallOptions,
  CancelledError,
  type Closed,
  type ConnectOptions,
  type McpSession,
  type SessionEvents,
} from './session.js';
import { type StreamInfo, Wire } from './wire.js';

const CLIENT_INFO = { name: 'mcp-tether-test-page', version: '1.0.0' };

/** A long call may run for minutes; progress notifications keep it alive. */
const CALL_TIMEOUT_MS = 5 * 60_000;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isResponse(message: unknown): boolean {
  return (
    typeof message === 'object' &&
    message !== null &&
    'id' in message &&
    ('result' in message || 'error' in message)
  );
}

function isPingRequest(message: unknown): boolean {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { method?: unknown }).method === 'ping' &&
    'id' in message
  );
}

/**
 * Streamable HTTP (`/mcp`, both protocol eras) and legacy HTTP+SSE
 * (`/sse` + `/messages`), driven by the official SDK v2 client. The page
 * only watches: every request goes through {@link Wire.fetch}, which logs it
 * and reads a copy of each SSE body.
 */
export class SdkSession implements McpSession {
  readonly resumable: boolean;
  holdsStream = true;
  private readonly client: Client;
  private readonly transport: StreamableHTTPClientTransport | SSEClientTransport;
  private readonly wire: Wire;
  /** Streams that delivered a JSON-RPC response: when they end, nothing was lost. */
  private readonly answered = new WeakSet<StreamInfo>();
  /** Requests the page cancelled: the server ends their streams without a response. */
  private readonly cancelled = new Set<unknown>();
  private ending = false;
  private over = false;
  /** Until connect() resolves, failures surface as its rejection, not as events. */
  private live = false;

  constructor(
    private readonly options: ConnectOptions,
    private readonly events: SessionEvents,
  ) {
    this.wire = new Wire(events.log, {
      opened: (res, stream) => {
        if (stream.lastEventId !== null && res.ok) events.resumed();
      },
      sending: (stream) => {
        const sent = parseJson(stream.body) as
          | { method?: unknown; params?: { requestId?: unknown } }
          | undefined;
        if (sent?.method === 'notifications/cancelled') this.cancelled.add(sent.params?.requestId);
      },
      comment: (text) => {
        if (text === 'ping') events.pinged();
      },
      event: (event, stream) => this.onEvent(event, stream),
      end: (how, stream) => {
        if (!this.live || this.ending || this.over || how === 'client') return;
        if (stream.method === 'POST') {
          // A POST stream that delivered its response, or whose request was cancelled, has simply finished.
          const sent = parseJson(stream.body) as { id?: unknown } | undefined;
          if (this.answered.has(stream) || this.cancelled.has(sent?.id)) return;
        }
        events.dropped(how === 'server' ? `${stream.label} ended by the server` : `${stream.label} broke`);
      },
    });
    const authProvider = options.token === '' ? undefined : { token: async () => options.token };
    const common = { fetch: this.wire.fetch, ...(authProvider ? { authProvider } : {}) };
    const modern = options.transport === 'streamable' && options.revision !== 'legacy';
    this.client = new Client(CLIENT_INFO, {
      capabilities: {},
      ...(modern
        ? {
            versionNegotiation: {
              mode: options.revision === 'auto' ? ('auto' as const) : { pin: options.revision },
            },
          }
        : {}),
    });
    if (options.transport === 'streamable') {
      this.resumable = true;
      this.transport = new StreamableHTTPClientTransport(new URL(`${options.baseUrl}/mcp`), {
        ...common,
        reconnectionOptions: {
          initialReconnectionDelay: 1_000,
          maxReconnectionDelay: 5_000,
          reconnectionDelayGrowFactor: 1.5,
          maxRetries: 3,
        },
      });
    } else {
      // A legacy session lives exactly as long as its stream: nothing to resume.
      this.resumable = false;
      this.transport = new SSEClientTransport(new URL(`${options.baseUrl}/sse`), common);
    }
    this.client.onerror = (error) => {
      if (!this.live || this.ending || this.over) return;
      events.log.add({ type: 'page', summary: `the SDK client reported: ${error.message}`, tone: 'warn' });
      events.troubled();
    };
    this.client.onclose = () => {
      if (!this.live || this.ending || this.over) return;
      this.finish({ reason: 'closed', detail: 'the transport closed' });
    };
  }

  async connect(): Promise<void> {
    await this.client.connect(this.transport);
    this.live = true;
    const era = this.client.getProtocolEra();
    // 2026-07-28 is stateless: a stream exists only while a request runs.
    this.holdsStream = era !== 'modern';
    const protocol = this.client.getNegotiatedProtocolVersion() ?? '—';
    if (this.transport instanceof StreamableHTTPClientTransport) {
      const sessionId = this.transport.sessionId;
      this.events.info({
        idLabel: 'Session id',
        id: sessionId ?? (era === 'modern' ? '— (stateless: no session)' : '—'),
        protocol: era === 'modern' ? `${protocol} (stateless)` : protocol,
      });
    } else {
      this.events.info({ protocol });
    }
  }

  async listTools(): Promise<Tool[]> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.client.listTools(cursor === undefined ? undefined : { cursor });
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return tools;
  }

  async callTool(name: string, args: Record<string, unknown>, options: CallOptions): Promise<CallToolResult> {
    try {
      return (await this.client.callTool(
        { name, arguments: args },
        {
          signal: options.signal,
          onprogress: options.onprogress,
          resetTimeoutOnProgress: true,
          timeout: CALL_TIMEOUT_MS,
        },
      )) as CallToolResult;
    } catch (error) {
      if (options.signal.aborted) throw new CancelledError();
      throw error;
    }
  }

  async ping(): Promise<string> {
    // 2026-07-28 dropped `ping`; `server/discover` is the cheapest round trip it has.
    if (this.client.getProtocolEra() === 'modern') {
      await this.client.discover();
      return 'server/discover';
    }
    await this.client.ping();
    return 'ping';
  }

  async disconnect(): Promise<void> {
    if (this.over) return;
    this.ending = true;
    let why: Closed = { reason: 'client_disconnect', detail: 'the page closed its streams' };
    const transport = this.transport;
    if (transport instanceof StreamableHTTPClientTransport) {
      if (transport.sessionId !== undefined) {
        try {
          await transport.terminateSession();
          why = { reason: 'session_deleted', detail: 'DELETE /mcp ended the session' };
        } catch (error) {
          why = {
            reason: 'client_disconnect',
            detail: `DELETE /mcp failed (${error instanceof Error ? error.message : String(error)}); streams closed`,
          };
        }
      } else {
        why = { reason: 'client_disconnect', detail: 'stateless: there was no session to end' };
      }
    }
    await this.client.close().catch(() => {});
    this.wire.dispose();
    this.finish(why);
  }

  abandon(why: Closed): void {
    if (this.over) return;
    this.ending = true;
    void this.client.close().catch(() => {});
    this.wire.dispose();
    this.finish(why);
  }

  private finish(why: Closed): void {
    if (this.over) return;
    this.over = true;
    this.events.closed(why);
  }

  private onEvent(event: EventSourceMessage, stream: StreamInfo): void {
    if (event.event === 'endpoint') {
      // Legacy SSE announces where to POST; the session id is in that URL.
      const sessionId = new URL(event.data, this.options.baseUrl).searchParams.get('sessionId');
      this.events.info({ idLabel: 'Session id', id: sessionId ?? '—' });
      return;
    }
    if (event.event !== undefined && event.event !== 'message') return;
    const message = parseJson(event.data);
    if (isResponse(message)) this.answered.add(stream);
    // Liveness pings: JSON-RPC requests the SDK answers by itself.
    if (isPingRequest(message)) this.events.pinged();
  }
}
