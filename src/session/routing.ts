import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/server';
import type { SseConnection } from '../connection/sse-connection.js';

/**
 * What a resumed or standalone connection is told of its stream by other
 * nodes while it is attached here (see {@link SessionRouting.follow}).
 */
export interface FollowTarget {
  readonly connection: SseConnection;
  /** An event another node stored and published for the stream. */
  event(eventId: string, frame: string): void;
  /** Another node finished the stream (its requests are all answered). */
  ended(): void;
}

/**
 * How one 2025-era session's streams reach other nodes. The session transport
 * calls it at each step of a stream's life; in one process every call is a
 * no-op ({@link LOCAL_ROUTING}), in Redis mode it publishes, follows and
 * forwards (src/cluster/redis-routing.ts). Failures are reported to the
 * session's error callback, never thrown into the transport.
 */
export interface SessionRouting {
  /** Events outlive a local close that is not a DELETE: another node may still serve the session. */
  readonly shared: boolean;
  /** The message as it leaves for the client: a server-to-client request's id says which node asked. */
  outgoing(message: JSONRPCMessage): JSONRPCMessage;
  /**
   * A client's response to a server-to-client request: the message for the
   * local server (its original id restored), or `undefined` once forwarded to
   * the node that asked.
   */
  inboundResponse(message: JSONRPCMessage & { id: RequestId }): JSONRPCMessage | undefined;
  /** A liveness-ping reply whose standalone stream is not attached here: passed to the node holding it. */
  pong(pingId: string): void;
  /** A client's `notifications/cancelled` received here (the request may run on another node). */
  cancelled(message: JSONRPCMessage): void;
  /** A response stream opened here with the requests it waits on. */
  opened(streamId: string, pending: readonly RequestId[]): void;
  /** An event stored and written here, for a connection to the stream held by another node. */
  appended(streamId: string, eventId: string, message: JSONRPCMessage): void;
  /** One request of a stream answered, with others still pending. */
  settled(streamId: string, requestId: RequestId): void;
  /** Every request of a stream answered. */
  finished(streamId: string): void;
  /** The session was deleted: what was recorded of these streams goes (their events go with the store). */
  forget(streamIds: readonly string[]): void;
  /** Whether a stream this node does not know belongs to the session (the shared record says so). */
  ownsStream(streamId: string): Promise<boolean>;
  /** Whether server-wide notifications for the standalone stream are sent from here. */
  deliversStandalone(attachedHere: boolean): boolean;
  /** While the target's connection is attached, what other nodes publish for the stream reaches it. */
  follow(streamId: string, target: FollowTarget): Promise<void>;
  /**
   * A response stream resumed here that this node does not run: resolves
   * `open` when its requests still run elsewhere (their answers arrive by
   * {@link follow}; a node that stops before answering has them answered with
   * a retryable error), `completed` when nothing more will come.
   */
  resumedElsewhere(streamId: string, target: FollowTarget): Promise<'open' | 'completed'>;
}

/** One process: nothing to route, every stream is here. */
export const LOCAL_ROUTING: SessionRouting = {
  shared: false,
  outgoing: (message) => message,
  inboundResponse: (message) => message,
  pong: () => {},
  cancelled: () => {},
  opened: () => {},
  appended: () => {},
  settled: () => {},
  finished: () => {},
  forget: () => {},
  ownsStream: async () => false,
  deliversStandalone: () => true,
  follow: async () => {},
  resumedElsewhere: async () => 'completed',
};

/** What other nodes say of one session, delivered by {@link ClusterRouting.join}. */
export interface SessionSignals {
  /** Another node ended the session (DELETE). */
  deleted(): void;
  /** A cancellation another node received, for a request that may run here. */
  cancelled(message: JSONRPCMessage): void;
  /** A client's response another node received, for a request this node sent (its id as sent). */
  response(message: JSONRPCMessage): void;
}

/**
 * How this process's 2025-era sessions are shared with other nodes (Redis
 * mode). Without it a process serves its own sessions and every
 * {@link SessionRouting} is {@link LOCAL_ROUTING}.
 */
export interface ClusterRouting {
  readonly nodeId: string;
  /** The routing of one session's streams; routing failures go to `onError`. */
  forSession(
    sessionId: string,
    standaloneStreamId: string | undefined,
    onError: (err: unknown, what: string) => void,
  ): SessionRouting;
  /** Follows what other nodes say of a session until the returned function is called. */
  join(sessionId: string, signals: SessionSignals): Promise<() => void>;
  /** Tells every node the session was deleted. */
  announceDelete(sessionId: string): Promise<void>;
}
