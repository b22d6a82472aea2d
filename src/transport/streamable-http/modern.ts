import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AuthInfo,
  createMcpHandler,
  InMemoryServerEventBus,
  type JSONRPCMessage,
  type McpServerFactory,
  type ServerEvent,
  type ServerEventBus,
  type ServerNotifier,
  SUBSCRIPTION_ID_META_KEY,
  type SubscriptionFilter,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { ConnectionRegistry } from '../../connection/registry.js';
import type { SseConnection } from '../../connection/sse-connection.js';
import type { PipelineHook } from '../../pipeline/pipeline.js';
import type { PipelinedServer } from '../../pipeline/server.js';
import { messageFrame } from '../../protocol/sse-frames.js';
import { isServerEventMethod, SERVER_EVENT_METHODS, serverEventOf } from '../server-events.js';

export interface ModernDeps {
  registry: ConnectionRegistry;
  logger: Logger;
  maxBodyBytes: number;
  /** Open `subscriptions/listen` streams allowed at once. */
  maxSubscriptions: number;
  createServer(): Promise<PipelinedServer>;
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
 * The change bridge: a 2026-07-28 server instance lives for one request, so a
 * change it announces (`sendToolListChanged()` and the like) has no stream of
 * its own to go to; it is published on the bus that every open
 * `subscriptions/listen` stream (and every 2025-era session) listens to
 * instead, and goes no further.
 */
export function changeBridgeHook(bus: ServerEventBus): PipelineHook {
  return () => ({
    outbound(message) {
      if (!('method' in message) || 'id' in message || !isServerEventMethod(message.method)) return message;
      // (A resources/updated without a uri has nothing to announce.)
      const event = serverEventOf(message.method, message.params);
      if (event) bus.publish(event);
      return undefined;
    },
  });
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

/** What a `notifications/subscriptions/acknowledged` frame says: the honored filter and the subscription id. */
function acknowledgement(
  frame: string,
): { honored: SubscriptionFilter; subscriptionId: unknown } | undefined {
  const data = frame
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
    .join('\n');
  try {
    const message = JSON.parse(data) as {
      method?: unknown;
      params?: { notifications?: SubscriptionFilter; _meta?: Record<string, unknown> };
    };
    if (message.method !== 'notifications/subscriptions/acknowledged') return undefined;
    const honored = message.params?.notifications;
    const meta = message.params?._meta;
    if (honored === undefined || meta === undefined || !(SUBSCRIPTION_ID_META_KEY in meta)) return undefined;
    return { honored, subscriptionId: meta[SUBSCRIPTION_ID_META_KEY] };
  } catch {
    return undefined;
  }
}

function listensToAnything(filter: SubscriptionFilter): boolean {
  return Object.keys(filter).length > 0;
}

/** Whether a listen filter takes an event (as the SDK's listen router decides). */
function listenFilterAccepts(filter: SubscriptionFilter, event: ServerEvent): boolean {
  switch (event.kind) {
    case 'tools_list_changed':
      return filter.toolsListChanged === true;
    case 'prompts_list_changed':
      return filter.promptsListChanged === true;
    case 'resources_list_changed':
      return filter.resourcesListChanged === true;
    case 'resource_updated':
      return filter.resourceSubscriptions?.includes(event.uri) === true;
  }
}

/** The notification a listen stream gets for an event, stamped with its subscription id. */
function listenNotification(event: ServerEvent, subscriptionId: unknown): JSONRPCMessage {
  const params: Record<string, unknown> = { ...event.params };
  if (event.kind === 'resource_updated') params.uri = event.uri;
  params._meta = {
    ...(event.params?._meta as object | undefined),
    [SUBSCRIPTION_ID_META_KEY]: subscriptionId,
  };
  return { jsonrpc: '2.0', method: SERVER_EVENT_METHODS[event.kind], params } as JSONRPCMessage;
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
  const bridge = changeBridgeHook(bus);
  const factory: McpServerFactory = async () => (await deps.createServer()).use(bridge);
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

  async function pump(
    connection: SseConnection,
    reader: ReadableStreamDefaultReader<Uint8Array>,
  ): Promise<void> {
    const stop = connection.onClose(() => void reader.cancel().catch(() => {}));
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
      stop();
      connection.atFrameBoundary = true;
      connection.close('completed');
    }
  }

  /**
   * A `subscriptions/listen` stream: the SDK validates the request and
   * writes the acknowledgement with the honored filter; then its per-request
   * exchange (web streams, the `Request`, promises) is let go and the
   * subscription is served from the bus by one small listener writing
   * straight to the connection, as long as the stream lives.
   */
  async function listen(
    connection: SseConnection,
    reader: ReadableStreamDefaultReader<Uint8Array>,
  ): Promise<void> {
    let head = '';
    const decoder = new TextDecoder();
    try {
      while (!head.includes('\n\n')) {
        const { done, value } = await reader.read();
        if (done) break;
        head += decoder.decode(value, { stream: true });
      }
    } catch {
      // cancelled: the client went away before the acknowledgement
    }
    const end = head.indexOf('\n\n');
    const ack = end === -1 ? undefined : acknowledgement(head.slice(0, end));
    if (
      connection.closed ||
      ack === undefined ||
      end + 2 !== head.length ||
      !listensToAnything(ack.honored)
    ) {
      // Nothing to subscribe to (the SDK ends such a stream itself), or not the shape expected: pass through.
      if (head) connection.write(head);
      return pump(connection, reader);
    }
    connection.write(head);
    const { honored, subscriptionId } = ack;
    // Subscribed before the SDK's stream is let go, so no event falls between the two.
    const stop = bus.subscribe((event) => {
      if (!listenFilterAccepts(honored, event)) return;
      connection.write(messageFrame(listenNotification(event, subscriptionId)));
    });
    connection.onClose(stop);
    await reader.cancel().catch(() => {});
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
    const kind = methodOf(parsedBody) === 'subscriptions/listen' ? 'listen' : 'response';
    const connection = deps.registry.open(req, res, { transport: 'streamable-http', kind });
    const stopGone = connection.onClose(onGone);
    connection.open(headers);
    const reader = response.body.getReader();
    if (kind === 'response') return pump(connection, reader);
    await listen(connection, reader);
    // Served from the bus from here on: the request's own abort wiring is done with.
    stopGone();
    res.off('close', onGone);
  }

  return { serve, notify: handler.notify, close: () => handler.close() };
}
