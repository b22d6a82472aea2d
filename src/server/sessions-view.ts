import type { LiveSession, StreamableHttpSessions } from '../transport/streamable-http/sessions.js';

/** What the public API shows of one 2025-era session. */
export interface SessionInfo {
  readonly id: string;
  readonly createdAt: number;
  /** Last request, response or stream change: the idle TTL counts from here. */
  readonly lastActivityAt: number;
  readonly protocolVersion: string | undefined;
  /** The fingerprint of the token the session is bound to, when auth is on. */
  readonly principal: string | undefined;
  /** Whether the session's server is let go until its next request. */
  readonly hibernating: boolean;
  /** SSE connections attached to the session now. */
  readonly openStreams: number;
  /** Requests accepted and not yet answered. */
  readonly pendingRequests: number;
}

/** The 2025-era sessions of this process, read-only. */
export interface SessionsView {
  readonly size: number;
  /** Sessions whose server is let go until their next request. */
  readonly hibernating: number;
  get(id: string): SessionInfo | undefined;
  values(): IterableIterator<SessionInfo>;
}

function infoOf(session: LiveSession): SessionInfo {
  return {
    id: session.id,
    createdAt: session.createdAt,
    lastActivityAt: session.lastActivityAt,
    protocolVersion: session.transport.protocolVersion,
    principal: session.principal,
    hibernating: session.server === undefined,
    openStreams: session.transport.openStreams,
    pendingRequests: session.transport.pendingRequests,
  };
}

/**
 * A read-only view of the sessions: snapshots, so nothing a caller holds
 * can change or keep alive a session.
 *
 * @example
 * tether.sessions.get(id)?.openStreams; // 1
 */
export function sessionsView(sessions: StreamableHttpSessions): SessionsView {
  return {
    get size() {
      return sessions.size;
    },
    get hibernating() {
      return sessions.hibernating;
    },
    get(id) {
      const session = sessions.get(id);
      return session === undefined ? undefined : infoOf(session);
    },
    *values() {
      for (const session of sessions.values()) yield infoOf(session);
    },
  };
}
