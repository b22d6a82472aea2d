// Each 2025-era session's McpServer, built only when the session needs it:
// the lobby answers a new session's initialize, wake() builds (and rebuilds
// after hibernation) the session's own server, hibernate() lets it go. Apart
// from sessions.ts because it is the one part that creates and closes SDK
// servers, with its own concurrency (the `waking` map) and its own failure
// (SessionEndedError); the registry, idle sweep and cluster side never
// create or close a server themselves.
import type { JSONRPCMessage, McpServer } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { rpcErrorOf } from '../../errors.js';
import { isRequest } from '../../protocol/json-rpc.js';
import type { LiveSession } from './live-session.js';
import { InitializeLobby } from './lobby.js';
import type { SessionTransport } from './session-transport.js';

/** The session ended while its server was being rebuilt for a request. */
export class SessionEndedError extends Error {
  constructor(readonly sessionId: string) {
    super(`session ${sessionId} ended while its server was being rebuilt`);
  }
}

export interface SessionServersDeps {
  createServer(): Promise<McpServer>;
  logger: Logger;
  /** Whether the session is still served here (not ended while its server was being built). */
  isLive(session: LiveSession): boolean;
}

/**
 * Builds, rebuilds and lets go of the servers of 2025-era sessions.
 *
 * @example
 * const servers = new SessionServers({ createServer, logger, isLive: (s) => live.get(s.id) === s });
 * const server = await servers.wake(session); // built now if the session had none
 */
export class SessionServers {
  private readonly waking = new Map<LiveSession, Promise<McpServer>>();
  private readonly lobby: InitializeLobby;

  constructor(private readonly deps: SessionServersDeps) {
    this.lobby = new InitializeLobby(deps.createServer);
  }

  /** Builds the lobby's server; rejects when the setup function throws (no session should exist then). */
  ready(): Promise<void> {
    return this.lobby.ready();
  }

  /** A client message that reached a session without a server: a new session's initialize is answered by the lobby. */
  unserved(message: JSONRPCMessage, transport: SessionTransport): void {
    if (!isRequest(message) || message.method !== 'initialize') return;
    this.lobby
      .answer(message)
      .catch(
        (err: unknown): JSONRPCMessage =>
          rpcErrorOf('TETHER_ERR_INTERNAL', {
            id: message.id,
            detail: `Internal error: ${(err as Error).message}`,
          }),
      )
      .then((response) => transport.send(response))
      .catch((err: unknown) =>
        this.deps.logger.warn(
          { session_id: transport.sessionId, err: (err as Error).message },
          'session.initialize_failed',
        ),
      );
  }

  /**
   * The session's server, rebuilt first if the session hibernates: a fresh
   * server from the setup function, connected to the session's transport
   * and brought up to date by replaying the client's `initialize` (and its
   * last `logging/setLevel`). Concurrent calls share one rebuild.
   */
  wake(session: LiveSession): Promise<McpServer> {
    session.lastUsedAt = Date.now();
    if (session.server) return Promise.resolve(session.server);
    let pending = this.waking.get(session);
    if (!pending) {
      pending = this.rebuild(session).finally(() => this.waking.delete(session));
      this.waking.set(session, pending);
    }
    return pending;
  }

  private async rebuild(session: LiveSession): Promise<McpServer> {
    const started = performance.now();
    const server = await this.deps.createServer();
    await server.connect(session.transport);
    await session.transport.replayHandshake(session.initParams);
    if (!this.deps.isLive(session) || session.transport.closed) {
      // Ended while rebuilding: the new server is let go as on hibernation, then closed.
      session.transport.detachServer();
      await server.close().catch(() => {});
      throw new SessionEndedError(session.id);
    }
    session.server = server;
    session.lastUsedAt = Date.now();
    this.deps.logger.debug(
      { session_id: session.id, rebuild_ms: Math.round((performance.now() - started) * 100) / 100 },
      'session.woke',
    );
    return server;
  }

  /** Lets go of the session's server; its streams, events and id stay. */
  hibernate(session: LiveSession): void {
    const server = session.server;
    if (!server || this.waking.has(session)) return;
    session.server = undefined;
    session.transport.detachServer();
    session.transport.forgetFinished();
    this.deps.logger.debug({ session_id: session.id }, 'session.hibernated');
  }

  /** Closes the server of a session that ended. */
  async drop(session: LiveSession): Promise<void> {
    const server = session.server;
    if (!server) return;
    session.server = undefined;
    await server.close().catch(() => {});
  }

  /** Closes the lobby's server. */
  close(): Promise<void> {
    return this.lobby.close();
  }
}
