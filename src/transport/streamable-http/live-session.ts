// The shape every part of the 2025-era session manager works on: sessions.ts
// (the registry, idle sweep, close), session-servers.ts (servers on demand)
// and cluster-sessions.ts (the shared record). Its own module so that the two
// halves do not import the class that composes them.
import type { McpServer } from '@modelcontextprotocol/server';
import type { SessionTransport } from './session-transport.js';

/** A 2025-era session served by this process. */
export interface LiveSession {
  readonly id: string;
  /**
   * The session's SDK server; `undefined` until a request needs it and while
   * the session hibernates (see `SessionServers.wake`).
   */
  server: McpServer | undefined;
  readonly transport: SessionTransport;
  readonly createdAt: number;
  /** Last request, response or stream change: the idle TTL counts from here. */
  lastActivityAt: number;
  /** Last time the server had work (a client message for it, an answer, a stream change). */
  lastUsedAt: number;
  principal: string | undefined;
  /** The client's `initialize` params, replayed to rebuild the server. */
  readonly initParams: unknown;
}
