import type { JSONRPCMessage, MessageExtraInfo, RequestId, Transport } from '@modelcontextprotocol/server';
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
