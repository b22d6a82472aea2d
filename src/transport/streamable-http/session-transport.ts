import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  AuthInfo,
  JSONRPCMessage,
  MessageExtraInfo,
  RequestId,
  Transport,
  TransportSendOptions,
} from '@modelcontextprotocol/server';
import type { ClusterBus } from '../../cluster/bus.js';
import type { CloseReason } from '../../connection/close-reason.js';
import type { ConnectionRegistry } from '../../connection/registry.js';
import { LIVENESS_PING_PREFIX, randomId, type SseConnection } from '../../connection/sse-connection.js';
import { INTERNAL_REQUEST_PREFIX } from '../../pipeline/metering.js';
import { cancelledRequestId, isRequest, isResponse } from '../../protocol/json-rpc.js';
import {
  messageFrame,
  pingRequestFrame,
  primingFrame,
  serializedMessageFrame,
} from '../../protocol/sse-frames.js';
import { type EventStore, EventsEvictedError, type StoredEvent } from '../../session/event-store.js';
import { ReplayBacklog } from './replay-backlog.js';

/** A resumable stream of one session: a POST's responses or the standalone GET stream. */
interface LogicalStream {
  readonly id: string;
  readonly kind: 'response' | 'standalone';
  /** Requests of a response stream still waiting for their response. */
  readonly pending: Set<RequestId>;
  connection: SseConnection | undefined;
  /** While a resumed connection replays stored events, live frames wait here. */
  backlog: ReplayBacklog | undefined;
  /** Cluster mode: another node said the stream is done while the backlog was filling. */
  endedRemotely?: boolean;
}

/** What a logical stream's shared metadata says (cluster mode). */
export interface RoutedStreamInfo {
  session: string | undefined;
  owner: string | undefined;
  done: boolean;
  /** JSON-encoded ids of requests still unanswered. */
  pending: string[];
}

/**
 * How a session's streams reach other nodes (Redis mode only; absent in the
 * embedded mode, which then behaves exactly as a single process always did).
 * Every message is appended to the shared event store and published on
 * `stream:<streamId>`; the node holding that stream's connection subscribes
 * to the channel while attached.
 */
export interface StreamRouter {
  readonly nodeId: string;
  readonly bus: ClusterBus;
  registerStream(streamId: string, sessionId: string, pending?: unknown[]): Promise<void>;
  settle(streamId: string, requestId: unknown): Promise<void>;
  markDone(streamId: string): Promise<void>;
  streamInfo(streamId: string): Promise<RoutedStreamInfo | undefined>;
  nodeAlive(nodeId: string): Promise<boolean>;
}

/** Messages on a `stream:<id>` channel. */
type StreamSignal =
  | { t: 'ev'; o: string; e: string; m: JSONRPCMessage }
  | { t: 'end'; o: string }
  | { t: 'pong'; id: string };

/** Messages on a `session:<id>` channel. */
export type SessionSignal = { t: 'cancel'; o: string; m: JSONRPCMessage } | { t: 'delete'; o: string };

/** Finished response streams whose events a session keeps for late resumption. */
export const FINISHED_STREAMS_KEPT = 32;

/** JSON-RPC error code for a request whose node stopped before answering. */
export const NODE_LOST_CODE = -32603;

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
  /** Cluster mode: routes streams between nodes. */
  router?: StreamRouter | undefined;
  /** Cluster mode: the session's standalone stream id, shared by every node. */
  standaloneStreamId?: string | undefined;
  /** Cluster mode: how often a node watching another node's stream checks that node is alive, ms. */
  ownerCheckMs?: number;
  /** Cluster mode: routing failures (Redis errors) are reported here instead of thrown. */
  onRouteError?(err: unknown, what: string): void;
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
  /** Finished response streams, oldest first; see {@link FINISHED_STREAMS_KEPT}. */
  private readonly finishedStreams: string[] = [];
  private standalone: LogicalStream | undefined;
  private closeReason: CloseReason | undefined;
  /** The internal request of {@link rehydrate} in flight, whose answer nobody receives. */
  private swallow: { id: RequestId; done: () => void } | undefined;
  /** Requests the session's server sent the client and still waits on. */
  private readonly serverRequests = new Set<RequestId>();
  /** The client's last `logging/setLevel` params, replayed when the server is rebuilt. */
  private logLevelParams: unknown;

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

  /**
   * Whether the server holds nothing a rebuild would lose: no client request
   * running, no request of its own awaiting the client's answer.
   */
  get quiescent(): boolean {
    return this.requestStreams.size === 0 && this.serverRequests.size === 0 && this.swallow === undefined;
  }

  /**
   * Lets go of the connected server without ending the session: the server
   * sees its transport close (and cleans up as it would), while the
   * session's streams, stored events and id stay. {@link rehydrate} on a new
   * server picks the session up again.
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
   * such resumption. In a cluster the shared store keeps them for other nodes.
   */
  forgetFinished(): void {
    if (this.deps.router) return;
    for (const id of this.finishedStreams.splice(0)) {
      if (this.storedStreams.delete(id)) this.deps.eventStore.deleteStream(id).catch(() => {});
    }
  }

  /**
   * Sends a server-wide notification (a list change) on the session's
   * standalone stream. Sessions that never opened one are skipped; in a
   * cluster only the node holding the stream's connection sends it.
   */
  notifyStandalone(message: JSONRPCMessage, serialized: string): void {
    const stream = this.standalone;
    if (this.closeReason !== undefined || stream === undefined) return;
    if (this.deps.router) {
      const local = stream.connection;
      if (local !== undefined && !local.closed) this.send(message).catch(() => {});
      return;
    }
    this.deps.eventStore.append(stream.id, message).then(
      (eventId) => {
        const frame = serializedMessageFrame(serialized, eventId);
        if (stream.backlog) stream.backlog.push({ eventId, frame });
        else stream.connection?.write(frame);
      },
      () => {},
    );
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
    const messages = received.filter(
      (m) => !(isResponse(m) && (this.isPingReply(m) || this.forwardedResponse(m))),
    );
    for (const m of messages) {
      if (isResponse(m)) this.serverRequests.delete(m.id);
      else if ('method' in m && m.method === 'logging/setLevel') this.logLevelParams = m.params;
    }
    const requests = messages.filter(isRequest);
    if (requests.length === 0) {
      res.writeHead(202, { 'Mcp-Session-Id': this.sessionId }).end();
      for (const m of messages) {
        this.deliver(m, authInfo ? { authInfo } : undefined);
        this.releaseCancelled(m);
        this.forwardCancel(m);
      }
      return;
    }
    const stream = this.newStream('response');
    for (const r of requests) {
      stream.pending.add(r.id);
      this.requestStreams.set(r.id, stream);
    }
    this.attach(stream, req, res);
    this.routeError(
      this.deps.router?.registerStream(stream.id, this.sessionId, [...stream.pending]),
      'register',
    );
    const extra: MessageExtraInfo = {
      ...(authInfo ? { authInfo } : {}),
      closeSSEStream: () => stream.connection?.close('manual'),
      closeStandaloneSSEStream: () => this.standalone?.connection?.close('manual'),
    };
    for (const m of messages) {
      const refusal = isRequest(m) ? refusals?.get(m.id) : undefined;
      if (refusal) this.send(refusal).catch((err: unknown) => this.onerror?.(err as Error));
      else this.deliver(m, extra);
      this.releaseCancelled(m);
    }
  }

  /** Hands a client message to the connected server, or to {@link SessionTransportDeps.unserved} without one. */
  private deliver(message: JSONRPCMessage, extra: MessageExtraInfo | undefined): void {
    if (this.onmessage) this.onmessage(message, extra);
    else this.deps.unserved?.(message, this);
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
      if (streamId === undefined || !(await this.ownsStream(streamId))) {
        return { status: 400, message: 'Last-Event-ID does not belong to this session' };
      }
      return this.resume(streamId, lastEventId, req, res);
    }
    if (this.standalone?.connection && !this.standalone.connection.closed) {
      return { status: 409, message: 'Conflict: this session already has a standalone SSE stream' };
    }
    this.standalone ??= this.newStream('standalone');
    this.attach(this.standalone, req, res);
    if (this.deps.router) await this.follow(this.standalone, this.standalone.connection);
    return undefined;
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (this.closeReason !== undefined) return;
    const response = isResponse(message);
    if (response && this.swallow?.id === message.id) {
      const { done } = this.swallow;
      this.swallow = undefined;
      if (this.protocolVersion === undefined) this.noteNegotiatedVersion(message);
      done();
      return;
    }
    if (isRequest(message)) this.serverRequests.add(message.id);
    else if ('method' in message && message.method === 'notifications/cancelled') {
      const requestId = cancelledRequestId(message);
      if (requestId !== undefined) this.serverRequests.delete(requestId);
    }
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
    const router = this.deps.router;
    // Cluster mode: the client's answer to a server-to-client request may be POSTed to any node; its id says which one asked.
    const outgoing: JSONRPCMessage =
      router && isRequest(message)
        ? ({ ...message, id: `${router.nodeId}~${JSON.stringify(message.id)}` } as JSONRPCMessage)
        : message;
    // Serialized once: the store measures (and Redis stores) the same text the frame carries.
    const data = JSON.stringify(outgoing);
    const appended = { sessionId: this.sessionId, serialized: data };
    let eventId: string | undefined;
    if (router) {
      try {
        eventId = await this.deps.eventStore.append(stream.id, outgoing, appended);
      } catch (err) {
        // Redis is down: the message still goes to a local connection, without an id to resume from.
        this.deps.onRouteError?.(err, 'append');
      }
    } else eventId = await this.deps.eventStore.append(stream.id, message, appended);
    const frame = serializedMessageFrame(data, eventId);
    if (stream.backlog) stream.backlog.push({ eventId: eventId ?? '', frame });
    else stream.connection?.write(frame);
    if (router && eventId !== undefined) {
      const signal: StreamSignal = { t: 'ev', o: router.nodeId, e: eventId, m: outgoing };
      this.routeError(router.bus.publish(`stream:${stream.id}`, signal), 'publish');
    }
    if (response) {
      stream.pending.delete(message.id);
      this.requestStreams.delete(message.id);
      if (router && stream.pending.size > 0) this.routeError(router.settle(stream.id, message.id), 'settle');
      if (stream.pending.size === 0) this.finish(stream);
      // The idle TTL counts from the last answer, not from when its stream dropped.
      this.deps.onStreamsChanged(this.openStreams);
    }
  }

  /** Ends the session's streams with `reason` and tells the SDK the transport is gone. */
  closeWith(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    // A rebuild replaying the handshake gets no answer now: let it finish at once.
    this.swallow?.done();
    this.swallow = undefined;
    for (const s of this.streams.values()) s.connection?.close(reason);
    this.streams.clear();
    this.requestStreams.clear();
    this.serverRequests.clear();
    // In a cluster another node may still serve the session: its events stay until it is deleted.
    if (!this.deps.router || reason === 'session_deleted') {
      for (const id of this.storedStreams) this.deps.eventStore.deleteStream(id).catch(() => {});
    }
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
    const requestId = cancelledRequestId(message);
    if (requestId === undefined) return;
    const stream = this.requestStreams.get(requestId);
    if (!stream) return;
    stream.pending.delete(requestId);
    this.requestStreams.delete(requestId);
    if (stream.pending.size === 0) this.finish(stream);
  }

  /** Consumes replies to liveness pings; the SDK never sent them, so it must not see them. */
  private isPingReply(message: JSONRPCMessage & { id: RequestId }): boolean {
    if (typeof message.id !== 'string' || !message.id.startsWith(LIVENESS_PING_PREFIX)) return false;
    const local = this.standalone?.connection;
    if (local && !local.closed) local.answerPing(message.id);
    else if (this.deps.router && this.deps.standaloneStreamId !== undefined) {
      // The standalone stream is held by another node: the reply goes to it.
      const signal: StreamSignal = { t: 'pong', id: message.id };
      this.routeError(this.deps.router.bus.publish(`stream:${this.deps.standaloneStreamId}`, signal), 'pong');
    }
    return true;
  }

  private noteNegotiatedVersion(message: JSONRPCMessage): void {
    const result = (message as { result?: { protocolVersion?: unknown } }).result;
    if (typeof result?.protocolVersion === 'string') this.protocolVersion = result.protocolVersion;
  }

  private newStream(kind: LogicalStream['kind']): LogicalStream {
    const shared = kind === 'standalone' ? this.deps.standaloneStreamId : undefined;
    const stream: LogicalStream = {
      id: shared ?? randomId(),
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
    // Keep the events of the last few finished streams for late resumptions; older ones go,
    // so a long session does not hold every answer it ever gave.
    this.finishedStreams.push(stream.id);
    if (this.finishedStreams.length > FINISHED_STREAMS_KEPT) {
      const oldest = this.finishedStreams.shift();
      if (oldest !== undefined && this.storedStreams.delete(oldest)) {
        this.deps.eventStore.deleteStream(oldest).catch(() => {});
      }
    }
    const router = this.deps.router;
    if (router) {
      const signal: StreamSignal = { t: 'end', o: router.nodeId };
      this.routeError(router.bus.publish(`stream:${stream.id}`, signal), 'publish');
      this.routeError(router.markDone(stream.id), 'done');
    }
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
    connection.onClose((reason) => {
      if (stream.connection === connection) stream.connection = undefined;
      this.deps.onStreamsChanged(this.openStreams);
      // A client that stopped answering pings is gone: the session goes with its stream.
      if (reason === 'ping_timeout') this.deps.onLivenessLost?.();
    });
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

  /**
   * Resumes a stream after `lastEventId`: replays what the store kept, then
   * goes on live. Refused (410, before the stream opens) when an event after
   * the id is no longer kept, so the client never gets a stream with a gap.
   */
  private async resume(
    streamId: string,
    lastEventId: string,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ status: number; message: string } | undefined> {
    const live = this.streams.get(streamId);
    const stream: LogicalStream = live ?? {
      id: streamId,
      kind: streamId === this.deps.standaloneStreamId ? 'standalone' : 'response',
      pending: new Set(),
      connection: undefined,
      backlog: undefined,
    };
    if (stream.kind === 'standalone' && !live && this.deps.router) {
      // The standalone stream resumed on a node that had not opened it yet: it is the session's from now on.
      this.standalone ??= stream;
      this.streams.set(stream.id, stream);
    }
    stream.connection?.close('manual');
    // From here live frames wait in the backlog, so none is lost while the store is read.
    const backlog = new ReplayBacklog();
    stream.backlog = backlog;
    stream.endedRemotely = false;
    let replayed: StoredEvent[] = [];
    try {
      replayed = (await this.deps.eventStore.eventsAfter(lastEventId)) ?? [];
    } catch (err) {
      if (err instanceof EventsEvictedError) {
        if (stream.backlog === backlog) stream.backlog = undefined;
        return {
          status: 410,
          message: `Gone: events after ${lastEventId} are no longer kept; retry the request that opened the stream`,
        };
      }
      this.deps.onRouteError?.(err, 'replay');
    }
    const connection = this.openConnection(stream, req, res);
    connection.write(`retry: ${this.deps.retryMs}\n\n`);
    stream.connection = connection;
    backlog.attach(connection);
    let info: RoutedStreamInfo | undefined;
    if (this.deps.router) {
      try {
        // Cluster mode: listen, then read the store again, so nothing published in between is lost.
        await this.follow(stream, connection);
        replayed = (await this.deps.eventStore.eventsAfter(lastEventId)) ?? [];
        if (!live) info = await this.deps.router.streamInfo(streamId);
      } catch (err) {
        this.deps.onRouteError?.(err, 'replay');
        if (err instanceof EventsEvictedError) connection.close('error');
      }
    }
    await this.replay(stream, backlog, connection, replayed);
    this.deps.onStreamsChanged(this.openStreams);
    if (stream.kind === 'standalone' || connection.closed) return undefined;
    // A stream whose requests all completed has nothing more to send.
    if (!this.deps.router || live) {
      if (!this.streams.has(streamId)) connection.close('completed');
      return undefined;
    }
    if (stream.endedRemotely || info === undefined || info.done) {
      connection.close('completed');
      return undefined;
    }
    this.watchOwner(stream, connection, info);
    return undefined;
  }

  /**
   * Writes stored events, then the live frames held back meanwhile. One
   * frame at a time, waiting for the socket to drain: a client that does not
   * read holds one serialized event, not every event of the stream at once,
   * and is closed by the byte cap or the slow-consumer check.
   */
  private async replay(
    stream: LogicalStream,
    backlog: ReplayBacklog,
    connection: SseConnection,
    events: StoredEvent[],
  ): Promise<void> {
    const seen = new Set<string>();
    let written = 0;
    for (const e of events) {
      if (connection.closed) break;
      seen.add(e.eventId);
      written++;
      if (!connection.write(messageFrame(e.message, e.eventId))) await connection.whenDrained();
    }
    // A later resumption of the same stream took over: its own backlog is not ours to flush.
    if (stream.backlog !== backlog) return;
    for (const b of backlog) if (!seen.has(b.eventId)) connection.write(b.frame);
    stream.backlog = undefined;
    if (written > 0) this.deps.onReplayed(written);
  }

  /** Reports a failed routing call (Redis) without letting it reject anything. */
  private routeError(op: Promise<unknown> | undefined, what: string): void {
    op?.catch((err: unknown) => this.deps.onRouteError?.(err, what));
  }

  /** Whether a stream id belongs to this session: locally known, or (cluster) so recorded in the store. */
  private async ownsStream(streamId: string): Promise<boolean> {
    if (this.storedStreams.has(streamId)) return true;
    const router = this.deps.router;
    if (!router) return false;
    if (streamId === this.deps.standaloneStreamId) return true;
    try {
      return (await router.streamInfo(streamId))?.session === this.sessionId;
    } catch (err) {
      this.deps.onRouteError?.(err, 'stream_info');
      return false;
    }
  }

  /**
   * Cluster mode: while `connection` is attached to `stream`, frames other
   * nodes publish for the stream are written to it (this node's own go
   * straight to the connection in {@link send}).
   */
  private async follow(stream: LogicalStream, connection: SseConnection | undefined): Promise<void> {
    const router = this.deps.router;
    if (!router || !connection || connection.closed) return;
    let unsubscribe: (() => void) | undefined;
    let gone = false;
    connection.signal.addEventListener(
      'abort',
      () => {
        gone = true;
        unsubscribe?.();
      },
      { once: true },
    );
    try {
      unsubscribe = await router.bus.subscribe(`stream:${stream.id}`, (payload) => {
        const signal = payload as StreamSignal;
        if (connection.closed) return;
        if (signal.t === 'pong') connection.answerPing(signal.id);
        else if (signal.o === router.nodeId) return;
        else if (signal.t === 'ev') {
          const frame = messageFrame(signal.m, signal.e);
          if (stream.backlog && stream.connection === connection)
            stream.backlog.push({ eventId: signal.e, frame });
          else connection.write(frame);
        } else if (signal.t === 'end') {
          if (stream.backlog && stream.connection === connection) stream.endedRemotely = true;
          else if (stream.kind === 'response') connection.close('completed');
        }
      });
    } catch (err) {
      this.deps.onRouteError?.(err, 'subscribe');
      return;
    }
    if (gone) unsubscribe();
  }

  /**
   * Cluster mode: a resumed stream whose requests run on another node. If
   * that node's heartbeat goes away with requests unanswered, they are
   * answered with an error the client can retry on, and the stream ends.
   */
  private watchOwner(stream: LogicalStream, connection: SseConnection, info: RoutedStreamInfo): void {
    const router = this.deps.router;
    if (!router || info.owner === undefined || info.owner === router.nodeId) return;
    const owner = info.owner;
    const check = async (): Promise<void> => {
      if (connection.closed) return;
      let alive = true;
      let latest: RoutedStreamInfo | undefined;
      try {
        alive = await router.nodeAlive(owner);
        if (alive) return;
        latest = await router.streamInfo(stream.id);
      } catch (err) {
        this.deps.onRouteError?.(err, 'owner_check');
        return;
      }
      if (!latest || latest.done) {
        connection.close('completed');
        return;
      }
      for (const raw of latest.pending) {
        const id = JSON.parse(raw) as RequestId;
        const message = {
          jsonrpc: '2.0',
          id,
          error: {
            code: NODE_LOST_CODE,
            message: `The server node handling this request (${owner}) stopped before answering; the request can be retried`,
            data: { retryable: true, node: owner },
          },
        } as JSONRPCMessage;
        try {
          const eventId = await this.deps.eventStore.append(stream.id, message);
          connection.write(messageFrame(message, eventId));
        } catch (err) {
          this.deps.onRouteError?.(err, 'append');
          connection.write(messageFrame(message));
        }
      }
      this.routeError(router.markDone(stream.id), 'done');
      connection.close('completed');
    };
    const timer = setInterval(() => {
      void check();
    }, this.deps.ownerCheckMs ?? 1_000);
    timer.unref();
    connection.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
    void check();
  }

  /**
   * Cluster mode: a client's response to a server-to-client request (sampling,
   * elicitation, roots) carries the asking node's id. This node's own get the
   * original id back (and go on to the SDK); another node's are forwarded on
   * `node:<nodeId>` and dropped here (returns true).
   */
  private forwardedResponse(message: JSONRPCMessage & { id: RequestId }): boolean {
    const router = this.deps.router;
    if (!router || typeof message.id !== 'string') return false;
    const tilde = message.id.indexOf('~');
    if (tilde <= 0) return false;
    const node = message.id.slice(0, tilde);
    if (node === router.nodeId) {
      try {
        (message as { id: RequestId }).id = JSON.parse(message.id.slice(tilde + 1)) as RequestId;
      } catch {
        // not one of ours: leave it to the SDK
      }
      return false;
    }
    this.routeError(router.bus.publish(`node:${node}`, { s: this.sessionId, m: message }), 'publish');
    return true;
  }

  /** Cluster mode: a client response another node received for a request this node sent. */
  deliverForwardedResponse(message: JSONRPCMessage): void {
    if (this.closeReason !== undefined) return;
    const id = (message as { id?: unknown }).id;
    if (typeof id !== 'string') return;
    const tilde = id.indexOf('~');
    let original: RequestId;
    try {
      original = JSON.parse(id.slice(tilde + 1)) as RequestId;
    } catch {
      return;
    }
    this.serverRequests.delete(original);
    this.onmessage?.({ ...message, id: original } as JSONRPCMessage);
  }

  /** Cluster mode: a cancellation POSTed here may be for a request running on another node. */
  private forwardCancel(message: JSONRPCMessage): void {
    const router = this.deps.router;
    if (!router || !('method' in message) || message.method !== 'notifications/cancelled') return;
    const signal: SessionSignal = { t: 'cancel', o: router.nodeId, m: message };
    this.routeError(router.bus.publish(`session:${this.sessionId}`, signal), 'publish');
  }

  /** Cluster mode: a cancellation another node received for this session. */
  deliverRemoteCancel(message: JSONRPCMessage): void {
    if (this.closeReason !== undefined) return;
    const requestId = cancelledRequestId(message);
    if (requestId === undefined || !this.requestStreams.has(requestId)) return;
    this.onmessage?.(message);
    this.releaseCancelled(message);
  }

  /**
   * Rebuilds the SDK side of the session on a freshly connected server (a
   * session another node created, or one that hibernated) by replaying the
   * client's `initialize`, `notifications/initialized` and its last
   * `logging/setLevel` internally; the answers are swallowed.
   */
  async rehydrate(initParams: unknown): Promise<void> {
    await this.internalRequest('initialize', initParams);
    this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
    if (this.logLevelParams !== undefined)
      await this.internalRequest('logging/setLevel', this.logLevelParams);
  }

  private internalRequest(method: string, params: unknown): Promise<void> {
    const id = `${INTERNAL_REQUEST_PREFIX}${randomId()}`;
    if (this.closeReason !== undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.swallow = undefined;
        resolve();
      }, 5_000);
      this.swallow = {
        id,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.onmessage?.({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage);
    });
  }
}
