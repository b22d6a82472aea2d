import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/server';
import { isRequest } from '../protocol/json-rpc.js';
import { messageFrame } from '../protocol/sse-frames.js';
import type { EventStore } from '../session/event-store.js';
import type { ClusterRouting, FollowTarget, SessionRouting, SessionSignals } from '../session/routing.js';
import type { ClusterBus } from './bus.js';

/** What a logical stream's shared metadata says. */
export interface RoutedStreamInfo {
  session: string | undefined;
  owner: string | undefined;
  done: boolean;
  /** JSON-encoded ids of requests still unanswered. */
  pending: string[];
}

/** The shared records {@link RedisRouting} reads and writes (the RedisCluster). */
export interface StreamRecords {
  readonly nodeId: string;
  readonly bus: ClusterBus;
  readonly events: EventStore;
  registerStream(streamId: string, sessionId: string, pending?: unknown[]): Promise<void>;
  settle(streamId: string, requestId: unknown): Promise<void>;
  markDone(streamId: string): Promise<void>;
  streamInfo(streamId: string): Promise<RoutedStreamInfo | undefined>;
  nodeAlive(nodeId: string): Promise<boolean>;
  deleteStreamMeta(streamId: string): Promise<void>;
}

/** Messages on a `stream:<id>` channel. */
type StreamSignal =
  | { type: 'event'; origin: string; eventId: string; message: JSONRPCMessage }
  | { type: 'end'; origin: string }
  | { type: 'pong'; pingId: string };

/** Messages on a `session:<id>` channel. */
type SessionSignal =
  | { type: 'cancel'; origin: string; message: JSONRPCMessage }
  | { type: 'delete'; origin: string };

/** A client's response forwarded on `node:<id>` to the node that sent the request. */
interface ForwardedResponse {
  sessionId: string;
  message: JSONRPCMessage;
}

/** JSON-RPC error code for a request whose node stopped before answering. */
export const NODE_LOST_CODE = -32603;

/**
 * Redis mode (docs/scaling.md): every message of a stream is stored in the
 * shared event store and published on `stream:<streamId>`, and the node
 * holding that stream's connection follows the channel while attached;
 * server-to-client request ids carry the asking node's id so a client's
 * answer POSTed to any node is forwarded on `node:<id>`; DELETE and
 * cancellations travel on `session:<id>`.
 *
 * @example
 * const routing = new RedisRouting(cluster);
 * new StreamableHttpSessions({ ..., router: routing });
 */
export class RedisRouting implements ClusterRouting {
  private readonly joined = new Map<string, SessionSignals>();
  private nodeChannel: Promise<unknown> | undefined;

  constructor(
    private readonly records: StreamRecords,
    /** How often a node watching another node's stream checks that node is alive, ms. */
    private readonly ownerCheckMs = 1_000,
  ) {}

  get nodeId(): string {
    return this.records.nodeId;
  }

  forSession(
    sessionId: string,
    standaloneStreamId: string | undefined,
    onError: (err: unknown, what: string) => void,
  ): SessionRouting {
    return new RedisSessionRouting(this.records, sessionId, standaloneStreamId, onError, this.ownerCheckMs);
  }

  async join(sessionId: string, signals: SessionSignals): Promise<() => void> {
    const { bus, nodeId } = this.records;
    this.joined.set(sessionId, signals);
    // Client responses to this node's server-to-client requests, POSTed to other nodes.
    this.nodeChannel ??= bus
      .subscribe(`node:${nodeId}`, (payload) => {
        const { sessionId: id, message } = payload as ForwardedResponse;
        this.joined.get(id)?.response(message);
      })
      .catch((err: unknown) => {
        this.nodeChannel = undefined;
        throw err;
      });
    await this.nodeChannel;
    const unsubscribe = await bus.subscribe(`session:${sessionId}`, (payload) => {
      const signal = payload as SessionSignal;
      if (signal.origin === nodeId) return;
      if (signal.type === 'delete') signals.deleted();
      else signals.cancelled(signal.message);
    });
    return () => {
      if (this.joined.get(sessionId) === signals) this.joined.delete(sessionId);
      unsubscribe();
    };
  }

  async announceDelete(sessionId: string): Promise<void> {
    const signal: SessionSignal = { type: 'delete', origin: this.records.nodeId };
    await this.records.bus.publish(`session:${sessionId}`, signal);
  }
}

class RedisSessionRouting implements SessionRouting {
  readonly shared = true;

  constructor(
    private readonly records: StreamRecords,
    private readonly sessionId: string,
    private readonly standaloneStreamId: string | undefined,
    private readonly onError: (err: unknown, what: string) => void,
    private readonly ownerCheckMs: number,
  ) {}

  /** Reports a failed routing call without letting it reject anything. */
  private report(op: Promise<unknown>, what: string): void {
    op.catch((err: unknown) => this.onError(err, what));
  }

  private publish(streamId: string, signal: StreamSignal): void {
    this.report(this.records.bus.publish(`stream:${streamId}`, signal), 'publish');
  }

  outgoing(message: JSONRPCMessage): JSONRPCMessage {
    if (!isRequest(message)) return message;
    return { ...message, id: `${this.records.nodeId}~${JSON.stringify(message.id)}` } as JSONRPCMessage;
  }

  inboundResponse(message: JSONRPCMessage & { id: RequestId }): JSONRPCMessage | undefined {
    if (typeof message.id !== 'string') return message;
    const tilde = message.id.indexOf('~');
    if (tilde <= 0) return message;
    const node = message.id.slice(0, tilde);
    if (node !== this.records.nodeId) {
      const forwarded: ForwardedResponse = { sessionId: this.sessionId, message };
      this.report(this.records.bus.publish(`node:${node}`, forwarded), 'publish');
      return undefined;
    }
    try {
      return { ...message, id: JSON.parse(message.id.slice(tilde + 1)) as RequestId } as JSONRPCMessage;
    } catch {
      return message; // not one of ours: the server decides
    }
  }

  pong(pingId: string): void {
    // The standalone stream is held by another node: the reply goes to it.
    if (this.standaloneStreamId !== undefined)
      this.publish(this.standaloneStreamId, { type: 'pong', pingId });
  }

  cancelled(message: JSONRPCMessage): void {
    const signal: SessionSignal = { type: 'cancel', origin: this.records.nodeId, message };
    this.report(this.records.bus.publish(`session:${this.sessionId}`, signal), 'publish');
  }

  opened(streamId: string, pending: readonly RequestId[]): void {
    this.report(this.records.registerStream(streamId, this.sessionId, [...pending]), 'register');
  }

  appended(streamId: string, eventId: string, message: JSONRPCMessage): void {
    this.publish(streamId, { type: 'event', origin: this.records.nodeId, eventId, message });
  }

  settled(streamId: string, requestId: RequestId): void {
    this.report(this.records.settle(streamId, requestId), 'settle');
  }

  finished(streamId: string): void {
    this.publish(streamId, { type: 'end', origin: this.records.nodeId });
    this.report(this.records.markDone(streamId), 'done');
  }

  forget(streamIds: readonly string[]): void {
    for (const id of streamIds) this.report(this.records.deleteStreamMeta(id), 'forget');
  }

  async ownsStream(streamId: string): Promise<boolean> {
    if (streamId === this.standaloneStreamId) return true;
    try {
      return (await this.records.streamInfo(streamId))?.session === this.sessionId;
    } catch (err) {
      this.onError(err, 'stream_info');
      return false;
    }
  }

  deliversStandalone(attachedHere: boolean): boolean {
    // The node holding the standalone stream's connection sends; the others would send it twice.
    return attachedHere;
  }

  async follow(streamId: string, target: FollowTarget): Promise<void> {
    const { connection } = target;
    if (connection.closed) return;
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
      unsubscribe = await this.records.bus.subscribe(`stream:${streamId}`, (payload) => {
        const signal = payload as StreamSignal;
        if (connection.closed) return;
        if (signal.type === 'pong') connection.answerPing(signal.pingId);
        else if (signal.origin === this.records.nodeId) return;
        else if (signal.type === 'event')
          target.event(signal.eventId, messageFrame(signal.message, signal.eventId));
        else target.ended();
      });
    } catch (err) {
      this.onError(err, 'subscribe');
      return;
    }
    if (gone) unsubscribe();
  }

  async resumedElsewhere(streamId: string, target: FollowTarget): Promise<'open' | 'completed'> {
    let info: RoutedStreamInfo | undefined;
    try {
      info = await this.records.streamInfo(streamId);
    } catch (err) {
      this.onError(err, 'replay');
    }
    if (info === undefined || info.done) return 'completed';
    if (info.owner !== undefined && info.owner !== this.records.nodeId)
      this.watchOwner(streamId, target, info.owner);
    return 'open';
  }

  /**
   * A resumed stream whose requests run on another node: if that node's
   * heartbeat goes away with requests unanswered, they are answered with an
   * error the client can retry on, and the stream ends.
   */
  private watchOwner(streamId: string, target: FollowTarget, owner: string): void {
    const { connection } = target;
    const check = async (): Promise<void> => {
      if (connection.closed) return;
      let latest: RoutedStreamInfo | undefined;
      try {
        if (await this.records.nodeAlive(owner)) return;
        latest = await this.records.streamInfo(streamId);
      } catch (err) {
        this.onError(err, 'owner_check');
        return;
      }
      if (!latest || latest.done) {
        connection.close('completed');
        return;
      }
      for (const raw of latest.pending) {
        const message = {
          jsonrpc: '2.0',
          id: JSON.parse(raw) as RequestId,
          error: {
            code: NODE_LOST_CODE,
            message: `The server node handling this request (${owner}) stopped before answering; the request can be retried`,
            data: { retryable: true, node: owner },
          },
        } as JSONRPCMessage;
        try {
          const eventId = await this.records.events.append(streamId, message, { sessionId: this.sessionId });
          connection.write(messageFrame(message, eventId));
        } catch (err) {
          this.onError(err, 'append');
          connection.write(messageFrame(message));
        }
      }
      this.report(this.records.markDone(streamId), 'done');
      connection.close('completed');
    };
    const timer = setInterval(() => void check(), this.ownerCheckMs);
    timer.unref();
    connection.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
    void check();
  }
}
