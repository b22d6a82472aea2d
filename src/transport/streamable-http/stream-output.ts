import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import type { SseConnection } from '../../connection/sse-connection.js';
import { pingRequestFrame, primingFrame, serializedMessageFrame } from '../../protocol/sse-frames.js';
import type { SessionRouting } from '../../session/routing.js';
import type { LogicalStream, SessionStreams } from './logical-streams.js';
import type { SessionTransportDeps } from './session-transport.js';

/** Whether a negotiated revision expects the priming event (2025-11-25 and later). */
export function wantsPriming(protocolVersion: string | undefined): boolean {
  return protocolVersion !== undefined && protocolVersion >= '2025-11-25';
}

/**
 * The write side of one session's logical streams: opening their
 * connections, storing each message under an event id before it is written,
 * finishing a stream once its requests are answered, and deleting events
 * that are no longer kept.
 *
 * @example
 * const output = new StreamOutput(sessionId, streams, LOCAL_ROUTING, deps);
 * output.attach(stream, req, res, '2025-11-25');
 * await output.emit(stream, message);
 */
export class StreamOutput {
  constructor(
    private readonly sessionId: string,
    private readonly streams: SessionStreams,
    private readonly routing: SessionRouting,
    private readonly deps: SessionTransportDeps,
  ) {}

  finish(stream: LogicalStream): void {
    // The last few finished streams keep their events for late resumptions; older ones go.
    const evicted = this.streams.finish(stream);
    if (evicted !== undefined) this.deleteEvents(evicted);
    this.routing.finished(stream.id);
    if (!stream.backlog) stream.connection?.close('completed');
  }

  open(stream: LogicalStream, req: IncomingMessage, res: ServerResponse): SseConnection {
    const connection = this.deps.registry.open(req, res, {
      transport: 'streamable-http',
      kind: stream.kind,
      sessionId: this.sessionId,
      // The standalone stream is how the server reaches the client: probe it with JSON-RPC pings.
      pingRequest: stream.kind === 'standalone' ? pingRequestFrame : undefined,
    });
    connection.open({ 'Mcp-Session-Id': this.sessionId });
    connection.onClose((reason) => {
      if (stream.connection === connection) stream.connection = undefined;
      this.deps.onStreamsChanged(this.streams.connections);
      // A client that stopped answering pings is gone: the session goes with its stream.
      if (reason === 'ping_timeout') this.deps.onLivenessLost?.();
    });
    return connection;
  }

  attach(
    stream: LogicalStream,
    req: IncomingMessage,
    res: ServerResponse,
    protocolVersion: string | undefined,
  ): SseConnection {
    const connection = this.open(stream, req, res);
    stream.connection = connection;
    if (wantsPriming(protocolVersion)) {
      connection.write(primingFrame(this.deps.eventStore.primingId(stream.id), this.deps.retryMs));
    }
    this.deps.onStreamsChanged(this.streams.connections);
    return connection;
  }

  deleteEvents(streamId: string): void {
    this.deps.eventStore
      .deleteStream(streamId)
      .catch((err: unknown) => this.deps.onStoreError?.(err, 'delete'));
  }

  /**
   * Stores a message under an event id, then writes it (or holds it while a
   * resumed connection replays). A store that fails does not lose the
   * message: it goes out without an id to resume from, and the failure is
   * reported.
   */
  async emit(stream: LogicalStream, message: JSONRPCMessage, serialized?: string): Promise<void> {
    // Serialized once: the store measures (and Redis stores) the same text the frame carries.
    const data = serialized ?? JSON.stringify(message);
    let eventId: string | undefined;
    try {
      eventId = await this.deps.eventStore.append(stream.id, message, {
        sessionId: this.sessionId,
        serialized: data,
      });
    } catch (err) {
      this.deps.onStoreError?.(err, 'append');
    }
    const frame = serializedMessageFrame(data, eventId);
    if (stream.backlog) stream.backlog.push({ eventId: eventId ?? '', frame });
    else stream.connection?.write(frame);
    if (eventId !== undefined) this.routing.appended(stream.id, eventId, message);
  }
}
