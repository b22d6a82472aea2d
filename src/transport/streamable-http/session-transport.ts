import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  AuthInfo,
  JSONRPCMessage,
  MessageExtraInfo,
  RequestId,
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/server';
import type { CloseReason } from '../../connection/close-reason.js';
import type { ConnectionRegistry } from '../../connection/registry.js';
import { LIVENESS_PING_PREFIX, randomId, type SseConnection } from '../../connection/sse-connection.js';
import type { EventStore, StoredEvent } from '../../session/event-store.js';
import { isRequest, isResponse, messageFrame, pingRequestFrame, primingFrame } from '../sse-frames.js';

/** A resumable stream of one session: a POST's responses or the standalone GET stream. */
interface LogicalStream {
  readonly id: string;
  readonly kind: 'response' | 'standalone';
  /** Requests of a response stream still waiting for their response. */
  readonly pending: Set<RequestId>;
  connection: SseConnection | undefined;
  /** While a resumed connection replays stored events, live frames wait here. */
  backlog: Array<{ eventId: string; frame: string }> | undefined;
}

export interface SessionTransportDeps {
  registry: ConnectionRegistry;
  eventStore: EventStore;
  retryMs: number;
  /** Called on every stream open/close so the session can track its idle time. */
  onStreamsChanged(openStreams: number): void;
  /** Called with the number of stored events replayed to a resuming client. */
  onReplayed(count: number): void;
}

/** Whether a negotiated revision expects the priming event (2025-11-25 and later). */
export function wantsPriming(protocolVersion: string | undefined): boolean {
  return protocolVersion !== undefined && protocolVersion >= '2025-11-25';
}

/**
 * The SDK-facing side of one 2025-era Streamable HTTP session: the SDK's
 * `Server` sends through {@link send}; POST and GET requests attach SSE
 * connections to the session's logical streams. Every message on a stream is
 * stored under an event id first, so a dropped connection loses nothing: the
 * client resumes with `Last-Event-ID` and gets the rest, and a request keeps
 * running while its stream is gone (a disconnect is not a cancellation).
 */
export class SessionTransport implements Transport {
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  protocolVersion: string | undefined;

  private readonly streams = new Map<string, LogicalStream>();
  private readonly requestStreams = new Map<RequestId, LogicalStream>();
  /** Every stream id this session ever stored events under; deleted with the session. */
  private readonly storedStreams = new Set<string>();
  private standalone: LogicalStream | undefined;
  private closeReason: CloseReason | undefined;

  constructor(
    readonly sessionId: string,
    private readonly deps: SessionTransportDeps,
  ) {}

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  /** Number of SSE connections currently attached to this session. */
  get openStreams(): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.connection && !s.connection.closed) n++;
    return n;
  }

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  /** Requests accepted and not yet answered (or cancelled). */
  get pendingRequests(): number {
    return this.requestStreams.size;
  }

  /** Serves a POST whose body parsed into `messages`. */
  handlePost(
    req: IncomingMessage,
    res: ServerResponse,
    received: JSONRPCMessage[],
    authInfo: AuthInfo | undefined,
  ): void {
    const messages = received.filter((m) => !(isResponse(m) && this.isPingReply(m)));
    const requests = messages.filter(isRequest);
    if (requests.length === 0) {
      res.writeHead(202, { 'Mcp-Session-Id': this.sessionId }).end();
      for (const m of messages) {
        this.onmessage?.(m, authInfo ? { authInfo } : undefined);
        this.releaseCancelled(m);
      }
      return;
    }
    const stream = this.newStream('response');
    for (const r of requests) {
      stream.pending.add(r.id);
      this.requestStreams.set(r.id, stream);
    }
    this.attach(stream, req, res);
    const extra: MessageExtraInfo = {
      ...(authInfo ? { authInfo } : {}),
      closeSSEStream: () => stream.connection?.close('manual'),
      closeStandaloneSSEStream: () => this.standalone?.connection?.close('manual'),
    };
    for (const m of messages) {
      this.onmessage?.(m, extra);
      this.releaseCancelled(m);
    }
  }

  /**
   * Serves a GET: a resumption when `lastEventId` names one of this session's
   * streams, otherwise the standalone stream. Returns an HTTP status to answer
   * with instead when the GET cannot be served.
   */
  async handleGet(
    req: IncomingMessage,
    res: ServerResponse,
    lastEventId: string | undefined,
  ): Promise<{ status: number; message: string } | undefined> {
    if (lastEventId !== undefined) {
      const streamId = this.deps.eventStore.streamOf(lastEventId);
      if (streamId === undefined || !this.storedStreams.has(streamId)) {
        return { status: 400, message: 'Last-Event-ID does not belong to this session' };
      }
      await this.resume(streamId, lastEventId, req, res);
      return undefined;
    }
    if (this.standalone?.connection && !this.standalone.connection.closed) {
      return { status: 409, message: 'Conflict: this session already has a standalone SSE stream' };
    }
    this.standalone ??= this.newStream('standalone');
    this.attach(this.standalone, req, res);
    return undefined;
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closeReason !== undefined) return;
    const response = isResponse(message);
    const relatedId = response ? message.id : options?.relatedRequestId;
    let stream = relatedId === undefined ? undefined : this.requestStreams.get(relatedId);
    if (!stream) {
      if (response) {
        this.onerror?.(new Error(`No stream for the response to request ${String(relatedId)}`));
        return;
      }
      this.standalone ??= this.newStream('standalone');
      stream = this.standalone;
    }
    if (response && this.protocolVersion === undefined) this.noteNegotiatedVersion(message);
    const eventId = await this.deps.eventStore.append(stream.id, message);
    const frame = messageFrame(message, eventId);
    if (stream.backlog) stream.backlog.push({ eventId, frame });
    else stream.connection?.write(frame);
    if (response) {
      stream.pending.delete(message.id);
      this.requestStreams.delete(message.id);
      if (stream.pending.size === 0) this.finish(stream);
      // The idle TTL counts from the last answer, not from when its stream dropped.
      this.deps.onStreamsChanged(this.openStreams);
    }
  }

  /** Ends the session's streams with `reason` and tells the SDK the transport is gone. */
  closeWith(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    for (const s of this.streams.values()) s.connection?.close(reason);
    this.streams.clear();
    this.requestStreams.clear();
    for (const id of this.storedStreams) void this.deps.eventStore.deleteStream(id);
    this.storedStreams.clear();
    this.onclose?.();
  }

  async close(): Promise<void> {
    this.closeWith('session_deleted');
  }

  /**
   * A request the client cancelled gets no response (the SDK drops it), so
   * without this its stream would stay open, and the request pending, until
   * the session ends.
   */
  private releaseCancelled(message: JSONRPCMessage): void {
    if (!('method' in message) || message.method !== 'notifications/cancelled') return;
    const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
    const stream = this.requestStreams.get(requestId);
    if (!stream) return;
    stream.pending.delete(requestId);
    this.requestStreams.delete(requestId);
    if (stream.pending.size === 0) this.finish(stream);
  }

  /** Consumes replies to liveness pings; the SDK never sent them, so it must not see them. */
  private isPingReply(message: JSONRPCMessage & { id: RequestId }): boolean {
    if (typeof message.id !== 'string' || !message.id.startsWith(LIVENESS_PING_PREFIX)) return false;
    this.standalone?.connection?.answerPing(message.id);
    return true;
  }

  private noteNegotiatedVersion(message: JSONRPCMessage): void {
    const result = (message as { result?: { protocolVersion?: unknown } }).result;
    if (typeof result?.protocolVersion === 'string') this.protocolVersion = result.protocolVersion;
  }

  private newStream(kind: LogicalStream['kind']): LogicalStream {
    const stream: LogicalStream = {
      id: randomId(),
      kind,
      pending: new Set(),
      connection: undefined,
      backlog: undefined,
    };
    this.streams.set(stream.id, stream);
    this.storedStreams.add(stream.id);
    return stream;
  }

  private finish(stream: LogicalStream): void {
    this.streams.delete(stream.id);
    if (!stream.backlog) stream.connection?.close('completed');
  }

  private openConnection(stream: LogicalStream, req: IncomingMessage, res: ServerResponse): SseConnection {
    const connection = this.deps.registry.open(req, res, {
      transport: 'streamable-http',
      kind: stream.kind,
      sessionId: this.sessionId,
      // The standalone stream is how the server reaches the client: probe it with JSON-RPC pings.
      pingRequest: stream.kind === 'standalone' ? pingRequestFrame : undefined,
    });
    connection.open({ 'Mcp-Session-Id': this.sessionId });
    connection.signal.addEventListener(
      'abort',
      () => {
        if (stream.connection === connection) stream.connection = undefined;
        this.deps.onStreamsChanged(this.openStreams);
      },
      { once: true },
    );
    return connection;
  }

  private attach(stream: LogicalStream, req: IncomingMessage, res: ServerResponse): void {
    const connection = this.openConnection(stream, req, res);
    stream.connection = connection;
    if (wantsPriming(this.protocolVersion)) {
      connection.write(primingFrame(this.deps.eventStore.primingId(stream.id), this.deps.retryMs));
    }
    this.deps.onStreamsChanged(this.openStreams);
  }

  private async resume(
    streamId: string,
    lastEventId: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const live = this.streams.get(streamId);
    const stream: LogicalStream = live ?? {
      id: streamId,
      kind: 'response',
      pending: new Set(),
      connection: undefined,
      backlog: undefined,
    };
    stream.connection?.close('manual');
    const connection = this.openConnection(stream, req, res);
    connection.write(`retry: ${this.deps.retryMs}\n\n`);
    stream.connection = connection;
    stream.backlog = [];
    let replayed: StoredEvent[] = [];
    try {
      replayed = (await this.deps.eventStore.eventsAfter(lastEventId)) ?? [];
    } finally {
      const seen = new Set<string>();
      for (const e of replayed) {
        seen.add(e.eventId);
        connection.write(messageFrame(e.message, e.eventId));
      }
      for (const b of stream.backlog) if (!seen.has(b.eventId)) connection.write(b.frame);
      stream.backlog = undefined;
      if (replayed.length > 0) this.deps.onReplayed(replayed.length);
    }
    this.deps.onStreamsChanged(this.openStreams);
    // A stream whose requests all completed has nothing more to send.
    if (!this.streams.has(streamId)) connection.close('completed');
  }
}
