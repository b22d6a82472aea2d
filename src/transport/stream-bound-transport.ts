import type { JSONRPCMessage, MessageExtraInfo, Transport } from '@modelcontextprotocol/server';
import type { SseConnection } from '../connection/sse-connection.js';
import { isResponse } from '../protocol/json-rpc.js';

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

  constructor(
    readonly connection: SseConnection,
    /** Turns an outgoing message into SSE frame text, or undefined to drop it. */
    private readonly frame: (message: JSONRPCMessage) => string | undefined,
  ) {
    this.sessionId = connection.sessionId ?? connection.id;
    connection.signal.addEventListener('abort', () => this.onclose?.(), { once: true });
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    const text = this.frame(message);
    if (text !== undefined) this.connection.write(text);
  }

  /** Hands a client message to the SDK. */
  deliver(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    if (this.connection.closed) return;
    // Replies to the connection's own liveness pings never reach the SDK, which did not send them.
    if (isResponse(message) && this.connection.answerPing(message.id)) return;
    this.onmessage?.(message, extra);
  }

  async close(): Promise<void> {
    this.connection.close('session_deleted');
  }
}
