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
import { LIVENESS_PING_PREFIX } from '../../connection/sse-connection.js';
import { cancelledRequestId, isRequest, isResponse } from '../../protocol/json-rpc.js';
import type { EventStore } from '../../session/event-store.js';
import { LOCAL_ROUTING, type SessionRouting } from '../../session/routing.js';
import { HandshakeReplay } from './handshake-replay.js';
import { SessionStreams } from './logical-streams.js';
import { followTarget, type Refusal, resumeStream } from './resumption.js';
import { StreamOutput } from './stream-output.js';

export interface SessionTransportDeps {
  registry: ConnectionRegistry;
  eventStore: EventStore;
  retryMs: number;
  /** Called on every stream open/close so the session can track its idle time. */
  onStreamsChanged(openStreams: number): void;
  /** Called with the number of stored events replayed to a resuming client. */
  onReplayed(count: number): void;
  /** Called when the standalone stream closed because the client stopped answering liveness pings. */
  onLivenessLost?(): void;
  /**
   * Where a client message goes while no server is connected (a new session's
   * `initialize`, answered by the lobby; anything else is dropped).
   */
  unserved?(message: JSONRPCMessage, transport: SessionTransport): void;
  /** How the session's streams reach other nodes. Default: one process ({@link LOCAL_ROUTING}). */
  routing?: SessionRouting;
  /** The session's standalone stream id when every node must use the same one (Redis mode). */
  standaloneStreamId?: string | undefined;
  /** Store failures (an append that could not be kept) are reported here instead of thrown. */
  onStoreError?(err: unknown, what: string): void;
}

/**
 * The SDK-facing side of one 2025-era Streamable HTTP session: the SDK's
 * `Server` sends through {@link send}; POST and GET requests attach SSE
 * connections to the session's logical streams. Every message on a stream is
 * stored under an event id first, so a dropped connection loses nothing: the
 * client resumes with `Last-Event-ID` and gets the rest, and a request keeps
 * running while its stream is gone (a disconnect is not a cancellation).
 * What other nodes must hear of (Redis mode) goes through its
 * {@link SessionRouting}, which in one process does nothing.
 */
export class SessionTransport implements Transport {
  onmessage?: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined;
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  protocolVersion: string | undefined;

  private readonly streams: SessionStreams;
  private readonly routing: SessionRouting;
  private readonly output: StreamOutput;
  private closeReason: CloseReason | undefined;
  private readonly handshake = new HandshakeReplay();
  /** Requests the session's server sent the client and still waits on. */
  private readonly serverRequests = new Set<RequestId>();
  /** The client's last `logging/setLevel` params, replayed when the server is rebuilt. */
  private logLevelParams: unknown;

  constructor(
    readonly sessionId: string,
    private readonly deps: SessionTransportDeps,
  ) {
    this.streams = new SessionStreams(deps.standaloneStreamId);
    this.routing = deps.routing ?? LOCAL_ROUTING;
    this.output = new StreamOutput(sessionId, this.streams, this.routing, deps);
  }

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  /** Number of SSE connections currently attached to this session. */
  get openStreams(): number {
    return this.streams.connections;
  }

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  /** Requests accepted and not yet answered (or cancelled). */
  get pendingRequests(): number {
    return this.streams.pendingRequests;
  }

  /** Whether a request with this id is running (a second one with the same id is refused). */
  hasPendingRequest(id: RequestId): boolean {
    return this.streams.hasRequest(id);
  }

  /**
   * Whether the server holds nothing a rebuild would lose: no client request
   * running, no request of its own awaiting the client's answer.
   */
  get quiescent(): boolean {
    return this.streams.pendingRequests === 0 && this.serverRequests.size === 0 && !this.handshake.active;
  }

  /**
   * Lets go of the connected server without ending the session: the server
   * sees its transport close (and cleans up as it would), while the
   * session's streams, stored events and id stay. {@link replayHandshake} on
   * a new server picks the session up again.
   */
  detachServer(): void {
    const onclose = this.onclose;
    this.onmessage = undefined;
    this.onclose = undefined;
    this.onerror = undefined;
    onclose?.();
  }

  /**
   * Forgets the events of finished response streams (kept for a client that
   * resumes one late): called when the session hibernates, long after any
   * such resumption. A shared store keeps them for other nodes.
   */
  forgetFinished(): void {
    if (this.routing.shared) return;
    for (const id of this.streams.forgetFinished()) this.output.deleteEvents(id);
  }

  /**
   * Sends a server-wide notification (a list change) on the session's
   * standalone stream. Sessions that never opened one are skipped; with
   * several nodes only the one holding the stream's connection sends it.
   */
  notifyStandalone(message: JSONRPCMessage, serialized: string): void {
    const stream = this.streams.standalone;
    if (this.closeReason !== undefined || stream === undefined) return;
    const attached = stream.connection !== undefined && !stream.connection.closed;
    if (!this.routing.deliversStandalone(attached)) return;
    void this.output.emit(stream, message, serialized);
  }

  /**
   * Serves a POST whose body parsed into `messages`. Requests in `refusals`
   * (see RequestAdmission) are answered on the response stream with their
   * error instead of reaching the server.
   */
  handlePost(
    req: IncomingMessage,
    res: ServerResponse,
    received: JSONRPCMessage[],
    authInfo: AuthInfo | undefined,
    refusals?: ReadonlyMap<RequestId, JSONRPCMessage>,
  ): void {
    const messages: JSONRPCMessage[] = [];
    for (const m of received) {
      const kept = isResponse(m) ? this.inboundResponse(m) : m;
      if (kept === undefined) continue;
      messages.push(kept);
      if (isResponse(kept)) this.serverRequests.delete(kept.id);
      else if ('method' in kept && kept.method === 'logging/setLevel') this.logLevelParams = kept.params;
    }
    const requests = messages.filter(isRequest);
    if (requests.length === 0) {
      res.writeHead(202, { 'Mcp-Session-Id': this.sessionId }).end();
      for (const m of messages) {
        this.deliver(m, authInfo ? { authInfo } : undefined);
        this.releaseCancelled(m);
        if (cancelledRequestId(m) !== undefined) this.routing.cancelled(m);
      }
      return;
    }
    const stream = this.streams.create('response');
    const ids = requests.map((r) => r.id);
    this.streams.bind(stream, ids);
    this.output.attach(stream, req, res, this.protocolVersion);
    this.routing.opened(stream.id, ids);
    const extra: MessageExtraInfo = {
      ...(authInfo ? { authInfo } : {}),
      closeSSEStream: () => stream.connection?.close('manual'),
      closeStandaloneSSEStream: () => this.streams.standalone?.connection?.close('manual'),
    };
    for (const m of messages) {
      const refusal = isRequest(m) ? refusals?.get(m.id) : undefined;
      if (refusal) this.send(refusal).catch((err: unknown) => this.onerror?.(err as Error));
      else this.deliver(m, extra);
      this.releaseCancelled(m);
    }
  }

  /**
   * Serves a GET: a resumption when `lastEventId` names one of this session's
   * streams, otherwise the standalone stream. Returns what to answer with
   * instead when the GET cannot be served.
   */
  async handleGet(
    req: IncomingMessage,
    res: ServerResponse,
    lastEventId: string | undefined,
  ): Promise<Refusal | undefined> {
    if (lastEventId !== undefined) {
      const streamId = this.deps.eventStore.streamOf(lastEventId);
      if (streamId === undefined || !(await this.ownsStream(streamId))) {
        return { code: 'TETHER_ERR_SESSION_BAD_LAST_EVENT_ID' };
      }
      return this.resume(streamId, lastEventId, req, res);
    }
    const current = this.streams.standalone;
    if (current?.connection && !current.connection.closed) {
      return { code: 'TETHER_ERR_SESSION_STREAM_CONFLICT' };
    }
    const stream = current ?? this.streams.create('standalone');
    const connection = this.output.attach(stream, req, res, this.protocolVersion);
    await this.routing.follow(stream.id, followTarget(stream, connection));
    return undefined;
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closeReason !== undefined) return;
    const response = isResponse(message);
    if (response && this.protocolVersion === undefined) this.noteNegotiatedVersion(message);
    if (this.handshake.swallow(message)) return;
    if (isRequest(message)) this.serverRequests.add(message.id);
    else {
      const cancelled = cancelledRequestId(message);
      if (cancelled !== undefined) this.serverRequests.delete(cancelled);
    }
    const relatedId = response ? message.id : options?.relatedRequestId;
    let stream = relatedId === undefined ? undefined : this.streams.forRequest(relatedId);
    if (!stream) {
      if (response) {
        this.onerror?.(new Error(`No stream for the response to request ${String(relatedId)}`));
        return;
      }
      stream = this.streams.standalone ?? this.streams.create('standalone');
    }
    await this.output.emit(stream, this.routing.outgoing(message));
    if (response) {
      const answered = this.streams.answered(message.id);
      if (answered?.done) this.output.finish(answered.stream);
      else if (answered) this.routing.settled(answered.stream.id, message.id);
      // The idle TTL counts from the last answer, not from when its stream dropped.
      this.deps.onStreamsChanged(this.openStreams);
    }
  }

  /** Ends the session's streams with `reason` and tells the SDK the transport is gone. */
  closeWith(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    // A rebuild replaying the handshake gets no answer now: let it finish at once.
    this.handshake.finish();
    this.serverRequests.clear();
    const stored = this.streams.clear((connection) => connection.close(reason));
    // A shared session may still be served by another node: its events stay until it is deleted.
    if (!this.routing.shared || reason === 'session_deleted')
      for (const id of stored) this.output.deleteEvents(id);
    if (reason === 'session_deleted') this.routing.forget(stored);
    this.onclose?.();
  }

  async close(): Promise<void> {
    this.closeWith('session_deleted');
  }

  /** Hands a client message to the connected server, or to {@link SessionTransportDeps.unserved} without one. */
  private deliver(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    if (this.onmessage) this.onmessage(message, extra);
    else this.deps.unserved?.(message, this);
  }

  /**
   * A request the client cancelled gets no response (the SDK drops it), so
   * without this its stream would stay open, and the request pending, until
   * the session ends.
   */
  private releaseCancelled(message: JSONRPCMessage): void {
    const requestId = cancelledRequestId(message);
    if (requestId === undefined) return;
    const answered = this.streams.answered(requestId);
    if (answered?.done) this.output.finish(answered.stream);
  }

  /**
   * What becomes of a client's response: replies to liveness pings are
   * consumed (the SDK never sent those pings); an answer to a request another
   * node sent goes to that node; the rest reach this session's server.
   */
  private inboundResponse(message: JSONRPCMessage & { id: RequestId }): JSONRPCMessage | undefined {
    if (typeof message.id === 'string' && message.id.startsWith(LIVENESS_PING_PREFIX)) {
      const local = this.streams.standalone?.connection;
      if (local && !local.closed) local.answerPing(message.id);
      else this.routing.pong(message.id);
      return undefined;
    }
    return this.routing.inboundResponse(message);
  }

  private noteNegotiatedVersion(message: JSONRPCMessage): void {
    const result = (message as { result?: { protocolVersion?: unknown } }).result;
    if (typeof result?.protocolVersion === 'string') this.protocolVersion = result.protocolVersion;
  }

  /**
   * Resumes a stream after `lastEventId` (see {@link resumeStream}); returns
   * the refusal to answer instead when its events are gone.
   */
  private resume(
    streamId: string,
    lastEventId: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<Refusal | undefined> {
    return resumeStream(
      {
        streams: this.streams,
        routing: this.routing,
        eventStore: this.deps.eventStore,
        retryMs: this.deps.retryMs,
        openConnection: (stream) => this.output.open(stream, req, res),
        replayed: (count) => {
          if (count > 0) this.deps.onReplayed(count);
          this.deps.onStreamsChanged(this.openStreams);
        },
        ...(this.deps.onStoreError ? { onStoreError: this.deps.onStoreError } : {}),
      },
      streamId,
      lastEventId,
    );
  }

  /** Whether a stream id belongs to this session: known here, or so recorded where the session is shared. */
  private async ownsStream(streamId: string): Promise<boolean> {
    return this.streams.knows(streamId) || (await this.routing.ownsStream(streamId));
  }

  /** A client response another node received for a request this node sent. */
  deliverForwardedResponse(message: JSONRPCMessage): void {
    if (this.closeReason !== undefined || !isResponse(message)) return;
    const local = this.routing.inboundResponse(message);
    if (local === undefined || !isResponse(local)) return;
    this.serverRequests.delete(local.id);
    this.deliver(local);
  }

  /** A cancellation another node received for this session. */
  deliverRemoteCancel(message: JSONRPCMessage): void {
    if (this.closeReason !== undefined) return;
    const requestId = cancelledRequestId(message);
    if (requestId === undefined || !this.streams.hasRequest(requestId)) return;
    this.deliver(message);
    this.releaseCancelled(message);
  }

  /**
   * Brings a freshly connected server up to date with the session (one that
   * hibernated, or that another node created); see {@link HandshakeReplay}.
   */
  replayHandshake(initParams: unknown): Promise<void> {
    if (this.closeReason !== undefined) return Promise.resolve();
    return this.handshake.run(initParams, this.logLevelParams, (m) => this.onmessage?.(m));
  }
}
