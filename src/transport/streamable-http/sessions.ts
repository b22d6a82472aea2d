import type { JSONRPCMessage, McpServer, ServerEvent, ServerEventBus } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { CloseReason } from '../../connection/close-reason.js';
import { randomId } from '../../connection/ids.js';
import type { ConnectionRegistry } from '../../connection/registry.js';
import type { EventStore } from '../../session/event-store.js';
import type { ClusterRouting } from '../../session/routing.js';
import type { SessionRecord, SessionStore } from '../../session/session-store.js';
import { SERVER_EVENT_METHODS } from '../server-events.js';
import { ClusterSessions } from './cluster-sessions.js';
import type { LiveSession } from './live-session.js';
import { SessionServers } from './session-servers.js';
import { SessionTransport } from './session-transport.js';

export type { LiveSession } from './live-session.js';

export interface SessionsDeps {
  registry: ConnectionRegistry;
  eventStore: EventStore;
  sessionStore: SessionStore;
  logger: Logger;
  retryMs: number;
  /** `0` disables the idle TTL. */
  idleTimeoutMs: number;
  /** `0` keeps every session's server for the session's life. */
  hibernateAfterMs: number;
  createServer(): Promise<McpServer>;
  /** Server-wide change events (`tether.notify.*`, 2026-07-28 servers' list changes) to pass on. */
  changes?: ServerEventBus | undefined;
  onReplayed(count: number): void;
  /**
   * Cluster mode (Redis): sessions are shared. Any node rebuilds a session it
   * does not hold from the stored record, DELETE and cancellations reach every
   * node through the `session:<id>` channel, and local copies that go idle or
   * shut down leave the shared record alone.
   */
  router?: ClusterRouting | undefined;
}

const UNKNOWN_CLIENT_INIT = (protocolVersion: string | undefined) => ({
  protocolVersion,
  capabilities: {},
  clientInfo: { name: 'unknown', version: '0' },
});

/**
 * The 2025-era sessions of this process: each pairs an SDK `McpServer` with
 * its {@link SessionTransport}. A session ends on DELETE, when idle for the
 * TTL with no open stream, or at shutdown; each end is logged with its reason.
 * A session whose server has had nothing to do for `hibernateAfterMs`
 * hibernates: the server (most of a session's memory) is let go, the
 * transport with its streams and events stays, and {@link wake} rebuilds the
 * server from the stored `initialize` when the client next needs it
 * (session-servers.ts). In cluster mode the shared side lives in
 * cluster-sessions.ts.
 *
 * @example
 * const session = await sessions.create('2025-11-25');
 * sessions.get(session.id) === session; // true
 */
export class StreamableHttpSessions {
  private readonly live = new Map<string, LiveSession>();
  private readonly servers: SessionServers;
  private readonly cluster: ClusterSessions | undefined;
  private readonly stopChanges: (() => void) | undefined;

  constructor(private readonly deps: SessionsDeps) {
    const isLive = (session: LiveSession) => this.live.get(session.id) === session;
    this.servers = new SessionServers({ createServer: deps.createServer, logger: deps.logger, isLive });
    this.cluster = deps.router
      ? new ClusterSessions({
          router: deps.router,
          sessionStore: deps.sessionStore,
          logger: deps.logger,
          isLive: (session) => this.live.has(session.id),
          deleted: (session) => void this.closeLocal(session, 'session_deleted'),
        })
      : undefined;
    this.stopChanges = deps.changes?.subscribe((event) => this.broadcast(event));
  }

  get size(): number {
    return this.live.size;
  }

  /** Sessions of this process currently without a server (counted when asked: at a metrics scrape). */
  get hibernating(): number {
    let n = 0;
    for (const s of this.live.values()) if (!s.server) n++;
    return n;
  }

  get(id: string): LiveSession | undefined {
    return this.live.get(id);
  }

  values(): IterableIterator<LiveSession> {
    return this.live.values();
  }

  /** Whether sessions are shared with other nodes (Redis mode). */
  get clustered(): boolean {
    return this.cluster !== undefined;
  }

  private newTransport(id: string, standaloneStreamId: string | undefined, session: () => LiveSession) {
    const router = this.deps.router;
    const failed = (err: unknown, what: string) =>
      this.deps.logger.warn(
        { session_id: id, err: (err as Error)?.message, op: what },
        router ? 'cluster.route_failed' : 'session.store_failed',
      );
    return new SessionTransport(id, {
      registry: this.deps.registry,
      eventStore: this.deps.eventStore,
      retryMs: this.deps.retryMs,
      onStreamsChanged: () => {
        const s = session();
        this.touch(s);
        s.lastUsedAt = s.lastActivityAt;
      },
      onReplayed: (count) => this.deps.onReplayed(count),
      onLivenessLost: () => void this.close(session(), 'ping_timeout'),
      // A new session's initialize is answered by the lobby; its own server is built on demand (wake()).
      unserved: (message, transport) => this.servers.unserved(message, transport),
      onStoreError: failed,
      ...(router ? { routing: router.forSession(id, standaloneStreamId, failed), standaloneStreamId } : {}),
    });
  }

  async create(
    protocolVersion: string | undefined,
    principal?: string,
    initParams?: unknown,
  ): Promise<LiveSession> {
    // A setup function that throws fails the initialize before any session exists.
    await this.servers.ready();
    const id = randomId();
    const now = Date.now();
    const standaloneStreamId = this.cluster ? randomId() : undefined;
    const transport = this.newTransport(id, standaloneStreamId, () => session);
    transport.protocolVersion = protocolVersion;
    // No server of its own yet: the lobby answers the initialize, and the first
    // request that needs the session's server builds it (see wake()).
    const session: LiveSession = {
      id,
      server: undefined,
      transport,
      createdAt: now,
      lastActivityAt: now,
      lastUsedAt: now,
      principal,
      initParams: initParams ?? UNKNOWN_CLIENT_INIT(protocolVersion),
    };
    const record: SessionRecord = { id, createdAt: now, lastActivityAt: now, protocolVersion, principal };
    if (this.cluster) {
      // Shared first: a POST that reaches another node right after the answer must find it.
      await this.deps.sessionStore.create({ ...record, initParams, standaloneStreamId });
      this.live.set(id, session);
      await this.cluster.join(session);
    } else {
      this.live.set(id, session);
      await this.deps.sessionStore.create(record);
    }
    this.deps.logger.info({ session_id: id, protocol_version: protocolVersion }, 'session.created');
    return session;
  }

  /**
   * Cluster mode: the session another node created, rebuilt here from its
   * stored record (undefined when there is none). Concurrent calls share one
   * rebuild. Rejects when the store cannot be reached.
   */
  async rehydrate(id: string): Promise<LiveSession | undefined> {
    if (!this.cluster) return undefined;
    return this.live.get(id) ?? this.cluster.rehydrate(id, (record) => this.adopt(id, record));
  }

  /** A session another node created, known here from now on; its server is built when a request needs one. */
  private adopt(id: string, record: SessionRecord): LiveSession {
    const now = Date.now();
    const transport = this.newTransport(id, record.standaloneStreamId, () => session);
    transport.protocolVersion = record.protocolVersion;
    const session: LiveSession = {
      id,
      server: undefined,
      transport,
      createdAt: record.createdAt,
      lastActivityAt: now,
      lastUsedAt: now,
      principal: record.principal,
      initParams: record.initParams ?? UNKNOWN_CLIENT_INIT(record.protocolVersion),
    };
    this.live.set(id, session);
    return session;
  }

  /**
   * The session's server, rebuilt first if the session hibernates (see
   * {@link SessionServers.wake}). Concurrent calls share one rebuild.
   */
  wake(session: LiveSession): Promise<McpServer> {
    return this.servers.wake(session);
  }

  /** Passes a server-wide list change to every session's standalone stream. */
  private broadcast(event: ServerEvent): void {
    // A resource update is for clients that subscribed to it, which 2025-era sessions track per server.
    if (event.kind === 'resource_updated') return;
    const message = {
      jsonrpc: '2.0',
      method: SERVER_EVENT_METHODS[event.kind],
      ...(event.params ? { params: event.params } : {}),
    } as JSONRPCMessage;
    const serialized = JSON.stringify(message);
    for (const session of this.live.values()) session.transport.notifyStandalone(message, serialized);
  }

  touch(session: LiveSession): void {
    session.lastActivityAt = Date.now();
    this.cluster?.touched(session);
  }

  /** Ends a session once; later calls are no-ops. */
  async close(session: LiveSession, reason: CloseReason): Promise<void> {
    if (!this.cluster) {
      if (!this.live.delete(session.id)) return;
      session.transport.closeWith(reason);
      await this.servers.drop(session);
      await this.deps.sessionStore.delete(session.id);
      this.logClosed(session, reason);
      return;
    }
    // Cluster mode: only a DELETE ends the shared session; any other end drops this node's copy.
    if (reason === 'session_deleted') await this.cluster.deleteShared(session.id);
    await this.closeLocal(session, reason);
  }

  private async closeLocal(session: LiveSession, reason: CloseReason): Promise<void> {
    if (!this.live.delete(session.id)) return;
    this.cluster?.leave(session);
    session.transport.closeWith(reason);
    await this.servers.drop(session);
    this.logClosed(session, reason);
  }

  private logClosed(session: LiveSession, reason: CloseReason): void {
    this.deps.logger.info(
      { session_id: session.id, reason, uptime_ms: Date.now() - session.createdAt },
      'session.closed',
    );
  }

  /**
   * Frees sessions with no open stream and no request in flight for the idle
   * TTL, and hibernates those whose server has had nothing to do for
   * `hibernateAfterMs`.
   */
  sweep(now: number): void {
    const ttl = this.deps.idleTimeoutMs;
    const hibernateAfter = this.deps.hibernateAfterMs;
    if (ttl <= 0 && hibernateAfter <= 0) return;
    for (const s of this.live.values()) {
      if (ttl > 0) {
        const idle = s.transport.openStreams === 0 && s.transport.pendingRequests === 0;
        if (idle && now - s.lastActivityAt >= ttl) {
          void this.close(s, 'idle_timeout');
          continue;
        }
        // Cluster mode: a session busy here keeps its shared record from expiring.
        if (!idle) this.cluster?.keepShared(s, now, ttl);
      }
      if (hibernateAfter > 0 && now - s.lastUsedAt >= hibernateAfter && s.transport.quiescent) {
        if (s.server) this.servers.hibernate(s);
        else s.transport.forgetFinished();
      }
    }
  }

  /** Immediate: every session's streams end now; the rest of the teardown runs on in the background. */
  destroyAll(): void {
    for (const s of this.live.values()) s.transport.closeWith('shutdown');
    void this.closeAll('shutdown');
  }

  async closeAll(reason: CloseReason): Promise<void> {
    this.stopChanges?.();
    await Promise.all([...this.live.values()].map((s) => this.close(s, reason)));
    await this.servers.close();
  }
}
