import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AuthInfo,
  createMcpHandler,
  InMemoryServerEventBus,
  type McpServer,
  type McpServerFactory,
  type ServerEventBus,
  type ServerNotifier,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { ConnectionRegistry } from '../../connection/registry.js';
import type { SseConnection } from '../../connection/sse-connection.js';

export interface ModernDeps {
  registry: ConnectionRegistry;
  logger: Logger;
  maxBodyBytes: number;
  /** Open `subscriptions/listen` streams allowed at once. */
  maxSubscriptions: number;
  createServer(): Promise<McpServer>;
  /** Where `subscriptions/listen` events travel; default in process. Cluster mode passes one shared by every node. */
  bus?: ServerEventBus;
}

/** The 2026-07-28 side of `/mcp`. */
export interface ModernEndpoint {
  serve(req: IncomingMessage, res: ServerResponse, parsedBody: unknown, authInfo?: AuthInfo): Promise<void>;
  /** Publishes list-changed / resource-updated events to open `subscriptions/listen` streams. */
  readonly notify: ServerNotifier;
  close(): Promise<void>;
}

/**
 * A 2026-07-28 server instance lives for one request, so a change it
 * announces (`sendToolListChanged()` and the like) has no stream of its own
 * to go to; it is published on the bus that every open `subscriptions/listen`
 * stream listens to instead.
 */
function bridgeChangesToBus(server: McpServer, bus: ServerEventBus): McpServer {
  const inner = server.server;
  const notify = inner.notification.bind(inner);
  inner.notification = async (notification, options) => {
    switch (notification.method) {
      case 'notifications/tools/list_changed':
        return bus.publish({ kind: 'tools_list_changed' });
      case 'notifications/prompts/list_changed':
        return bus.publish({ kind: 'prompts_list_changed' });
      case 'notifications/resources/list_changed':
        return bus.publish({ kind: 'resources_list_changed' });
      case 'notifications/resources/updated': {
        const uri = (notification.params as { uri?: unknown } | undefined)?.uri;
        if (typeof uri === 'string') return bus.publish({ kind: 'resource_updated', uri });
        return;
      }
      default:
        return notify(notification, options);
    }
  };
  return server;
}

function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  return headers;
}

function endsFrame(chunk: Uint8Array): boolean {
  const n = chunk.byteLength;
  return n >= 2 && chunk[n - 1] === 0x0a && chunk[n - 2] === 0x0a;
}

function methodOf(body: unknown): string | undefined {
  const m = (body as { method?: unknown } | null)?.method;
  return typeof m === 'string' ? m : undefined;
}

/**
 * 2026-07-28 requests are stateless: the SDK's per-request dispatcher gives
 * their MCP semantics (the `_meta` envelope, `server/discover`, header
 * validation, multi-round-trip results, `subscriptions/listen`), and this
 * module owns the socket. An SSE answer becomes a registered
 * {@link SseConnection}: keepalive from the shared scheduler, backpressure,
 * one close reason, and a client that goes away aborts the request's
 * `AbortSignal` at once, which cancels the tool call as the spec requires.
 */
export function createModernEndpoint(deps: ModernDeps): ModernEndpoint {
  const bus =
    deps.bus ??
    new InMemoryServerEventBus((error) => deps.logger.warn({ err: error.message }, 'listen.delivery_failed'));
  const factory: McpServerFactory = async () => bridgeChangesToBus(await deps.createServer(), bus);
  const handler = createMcpHandler(factory, {
    legacy: 'reject',
    bus,
    keepAliveMs: 0,
    maxRequestBodySize: deps.maxBodyBytes,
    // The connection caps bound listen streams like every other stream; the SDK's own
    // default (1,024 subscriptions) would refuse them long before.
    maxSubscriptions: deps.maxSubscriptions,
    onerror: (error) => deps.logger.debug({ err: error.message }, 'modern.request_rejected'),
  });

  async function pump(connection: SseConnection, body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    connection.signal.addEventListener('abort', () => void reader.cancel().catch(() => {}), { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || connection.closed) break;
        connection.atFrameBoundary = endsFrame(value);
        if (!connection.write(value)) await connection.whenDrained();
      }
    } catch {
      // The reader was cancelled because the connection closed; nothing left to do.
    } finally {
      connection.atFrameBoundary = true;
      connection.close('completed');
    }
  }

  async function serve(
    req: IncomingMessage,
    res: ServerResponse,
    parsedBody: unknown,
    authInfo?: AuthInfo,
  ): Promise<void> {
    const aborter = new AbortController();
    const onGone = () => aborter.abort();
    res.once('close', onGone);
    const request = new Request(`http://${req.headers.host ?? 'localhost'}${req.url ?? '/mcp'}`, {
      method: 'POST',
      headers: headersOf(req),
      signal: aborter.signal,
    });
    const response = await handler.fetch(request, { parsedBody, ...(authInfo ? { authInfo } : {}) });
    if (res.destroyed) {
      await response.body?.cancel().catch(() => {});
      return;
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const isStream = response.headers.get('content-type')?.startsWith('text/event-stream') === true;
    if (!isStream || response.body === null) {
      const payload = Buffer.from(await response.arrayBuffer());
      res.off('close', onGone);
      res.writeHead(response.status, { ...headers, 'content-length': String(payload.byteLength) });
      res.end(payload);
      return;
    }
    const connection = deps.registry.open(req, res, {
      transport: 'streamable-http',
      kind: methodOf(parsedBody) === 'subscriptions/listen' ? 'listen' : 'response',
    });
    connection.signal.addEventListener('abort', onGone, { once: true });
    connection.open(headers);
    await pump(connection, response.body);
  }

  return { serve, notify: handler.notify, close: () => handler.close() };
}
