import type {
  JSONRPCMessage,
  McpServer,
  MessageExtraInfo,
  RequestId,
  Transport,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { SseConnection } from '../connection/sse-connection.js';
import { cancelledRequestId, isRequest, isResponse } from '../protocol/json-rpc.js';

/**
 * An SDK `Transport` whose whole life is one SSE connection (legacy
 * HTTP+SSE, the seed endpoint): what the SDK sends is framed onto the
 * stream, messages POSTed for it are handed in with {@link deliver}, and
 * when the stream closes the SDK is told at once, which aborts every
 * in-flight handler's `AbortSignal`.
 */
export class StreamBoundTransport implements Transport {
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  readonly sessionId: string;
  /** Client requests handed to the SDK and not yet answered. */
  private readonly pending = new Set<RequestId>();

  constructor(
    readonly connection: SseConnection,
    /** Turns an outgoing message into SSE frame text, or undefined to drop it. */
    private readonly frame: (message: JSONRPCMessage) => string | undefined,
  ) {
    this.sessionId = connection.sessionId ?? connection.id;
    connection.signal.addEventListener(
      'abort',
      () => {
        this.pending.clear();
        this.onclose?.();
      },
      { once: true },
    );
  }

  /** Client requests running: handed to the SDK, not yet answered or cancelled. */
  get pendingRequests(): number {
    return this.pending.size;
  }

  /** Whether a client request with this id is running (a second one with the same id is refused). */
  hasPendingRequest(id: RequestId): boolean {
    return this.pending.has(id);
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    if (isResponse(message)) this.pending.delete(message.id);
    const text = this.frame(message);
    if (text !== undefined) this.connection.write(text);
  }

  /** Hands a client message to the SDK. */
  deliver(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    if (this.connection.closed) return;
    // Replies to the connection's own liveness pings never reach the SDK, which did not send them.
    if (isResponse(message) && this.connection.answerPing(message.id)) return;
    if (isRequest(message)) this.pending.add(message.id);
    else {
      // A cancelled request gets no answer; it ends here.
      const cancelled = cancelledRequestId(message);
      if (cancelled !== undefined) this.pending.delete(cancelled);
    }
    this.onmessage?.(message, extra);
  }

  async close(): Promise<void> {
    this.connection.close('session_deleted');
  }
}

/** How {@link serveOnStream} builds and frames the server of one stream. */
export interface ServeOnStreamOptions {
  connection: SseConnection;
  createServer(): Promise<McpServer>;
  /** Turns an outgoing message into SSE frame text, or undefined to drop it. */
  frame(message: JSONRPCMessage): string | undefined;
  logger: Logger;
  /** The log line of a setup function that threw (`http_sse.setup_failed`, …) and its fields. */
  setupFailed: { msg: string; fields: Record<string, unknown> };
  /** The transport is connected-to-be: register it where POSTs find it. */
  opened(transport: StreamBoundTransport): void;
  /** The stream closed: forget the transport. */
  ended(): void;
}

/**
 * Builds the server of a stream-bound session (HTTP+SSE, the streaming
 * endpoint) and connects it; the server closes when the stream does. Resolves
 * undefined when there is nothing to serve: setup threw (the stream closes
 * with `error`, logged) or the client left while the server was being built
 * (the abort listeners would never fire, so nothing may be registered).
 *
 * @example
 * const transport = await serveOnStream({ connection, createServer, frame, logger, setupFailed, opened, ended });
 */
export async function serveOnStream(
  options: ServeOnStreamOptions,
): Promise<StreamBoundTransport | undefined> {
  const { connection, logger } = options;
  let server: McpServer;
  try {
    server = await options.createServer();
  } catch (err) {
    logger.error({ err, ...options.setupFailed.fields }, options.setupFailed.msg);
    connection.close('error');
    return undefined;
  }
  const release = () =>
    server
      .close()
      .catch((err: unknown) => logger.debug({ err, connection_id: connection.id }, 'server.close_failed'));
  if (connection.closed) {
    await release();
    return undefined;
  }
  const transport = new StreamBoundTransport(connection, options.frame);
  options.opened(transport);
  connection.signal.addEventListener(
    'abort',
    () => {
      options.ended();
      void release();
    },
    { once: true },
  );
  await server.connect(transport);
  return transport;
}
