import type { JSONRPCMessage, McpServer } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { CloseReason } from '../../connection/close-reason.js';
import type { ConnectionRegistry } from '../../connection/registry.js';
import { randomId } from '../../connection/sse-connection.js';
import type { EventStore } from '../../session/event-store.js';
import type { SessionStore } from '../../session/session-store.js';
import { type SessionSignal, SessionTransport, type StreamRouter } from './session-transport.js';

/** A 2025-era session served by this process. */
export interface LiveSession {
  readonly id: string;
  readonly server: McpServer;
  readonly transport: SessionTransport;
  readonly createdAt: number;
  lastActivityAt: number;
  principal: string | undefined;
}

export interface SessionsDeps {
  registry: ConnectionRegistry;
  eventStore: EventStore;
  sessionStore: SessionStore;
  logger: Logger;
  retryMs: number;
  /** `0` disables the idle TTL. */
  idleTimeoutMs: number;
  createServer(): Promise<McpServer>;
  onReplayed(count: number): void;
  /**
   * Cluster mode (Redis): sessions are shared. Any node rebuilds a session it
   * does not hold from the stored record, DELETE and cancellations reach every
   * node through the `session:<id>` channel, and local copies that go idle or
   * shut down leave the shared record alone.
   */
  router?: StreamRouter | undefined;
}

interface SessionExtras {
  unsubscribe?: () => void;
  storeTouchedAt: number;
}

/**
 * The 2025-era sessions of this process: each pairs an SDK `McpServer` with
 * its {@link SessionTransport}. A session ends on DELETE, when idle for the
 * TTL with no open stream, or at shutdown; each end is logged with its reason.
 *
 * @example
 * const session = await sessions.create('2025-11-25');
 * sessions.get(session.id) === session; // true
 */
export class StreamableHttpSessions {
  private readonly live = new Map<string, LiveSession>();
  private readonly extras = new WeakMap<LiveSession, SessionExtras>();
  private readonly rehydrating = new Map<string, Promise<LiveSession | undefined>>();
  private nodeChannel: Promise<unknown> | undefined;

  constructor(private readonly deps: SessionsDeps) {}

  get size(): number {
    return this.live.size;
  }

  get(id: string): LiveSession | undefined {
    return this.live.get(id);
  }

  values(): IterableIterator<LiveSession> {
    return this.live.values();
  }

  /** Whether sessions are shared with other nodes (Redis mode). */
  get clustered(): boolean {
    return this.deps.router !== undefined;
  }

  private newTransport(id: string, standaloneStreamId: string | undefined, session: () => LiveSession) {
    const router = this.deps.router;
    return new SessionTransport(id, {
      registry: this.deps.registry,
      eventStore: this.deps.eventStore,
      retryMs: this.deps.retryMs,
      onStreamsChanged: () => this.touch(session()),
      onReplayed: (count) => this.deps.onReplayed(count),
      onLivenessLost: () => void this.close(session(), 'ping_timeout'),
      ...(router
        ? {
            router,
            standaloneStreamId,
            onRouteError: (err: unknown, what: string) =>
              this.deps.logger.warn(
                { session_id: id, err: (err as Error)?.message, op: what },
                'cluster.route_failed',
              ),
          }
        : {}),
    });
  }

  async create(
    protocolVersion: string | undefined,
    principal?: string,
    initParams?: unknown,
  ): Promise<LiveSession> {
    const id = randomId();
    const now = Date.now();
    const standaloneStreamId = this.deps.router ? randomId() : undefined;
    const transport = this.newTransport(id, standaloneStreamId, () => session);
    transport.protocolVersion = protocolVersion;
    const server = await this.deps.createServer();
    const session: LiveSession = { id, server, transport, createdAt: now, lastActivityAt: now, principal };
    await server.connect(transport);
    if (this.deps.router) {
      // Shared first: a POST that reaches another node right after the answer must find it.
      await this.deps.sessionStore.create({
        id,
        createdAt: now,
        lastActivityAt: now,
        protocolVersion,
        principal,
        initParams,
        standaloneStreamId,
      });
      this.live.set(id, session);
      await this.join(session);
    } else {
      this.live.set(id, session);
      await this.deps.sessionStore.create({
        id,
        createdAt: now,
        lastActivityAt: now,
        protocolVersion,
        principal,
      });
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
    if (!this.deps.router) return undefined;
    const existing = this.live.get(id);
    if (existing) return existing;
    let pending = this.rehydrating.get(id);
    if (!pending) {
      pending = this.doRehydrate(id).finally(() => this.rehydrating.delete(id));
      this.rehydrating.set(id, pending);
    }
    return pending;
  }

  private async doRehydrate(id: string): Promise<LiveSession | undefined> {
    const record = await this.deps.sessionStore.get(id);
    if (!record) return undefined;
    const now = Date.now();
    const transport = this.newTransport(id, record.standaloneStreamId, () => session);
    transport.protocolVersion = record.protocolVersion;
    const server = await this.deps.createServer();
    const session: LiveSession = {
      id,
      server,
      transport,
      createdAt: record.createdAt,
      lastActivityAt: now,
      principal: record.principal,
    };
    await server.connect(transport);
    await transport.rehydrate(
      record.initParams ?? {
        protocolVersion: record.protocolVersion,
        capabilities: {},
        clientInfo: { name: 'unknown', version: '0' },
      },
    );
    this.live.set(id, session);
    await this.join(session);
    this.deps.logger.info({ session_id: id, protocol_version: record.protocolVersion }, 'session.rehydrated');
    return session;
  }

  /** Cluster mode: listens on the session's control channel (DELETE, cancellations from other nodes). */
  private async join(session: LiveSession): Promise<void> {
    const router = this.deps.router;
    if (!router) return;
    // Client responses to this node's server-to-client requests, POSTed to other nodes.
    this.nodeChannel ??= router.bus
      .subscribe(`node:${router.nodeId}`, (payload) => {
        const { s, m } = payload as { s: string; m: JSONRPCMessage };
        this.live.get(s)?.transport.deliverForwardedResponse(m);
      })
      .catch((err: unknown) => {
        this.nodeChannel = undefined;
        this.deps.logger.warn({ err: (err as Error).message }, 'cluster.route_failed');
      });
    await this.nodeChannel;
    const extras: SessionExtras = { storeTouchedAt: Date.now() };
    this.extras.set(session, extras);
    try {
      extras.unsubscribe = await router.bus.subscribe(`session:${session.id}`, (payload) => {
        const signal = payload as SessionSignal;
        if (signal.o === router.nodeId) return;
        if (signal.t === 'delete') void this.closeLocal(session, 'session_deleted');
        else if (signal.t === 'cancel') session.transport.deliverRemoteCancel(signal.m);
      });
    } catch (err) {
      this.deps.logger.warn({ session_id: session.id, err: (err as Error).message }, 'cluster.route_failed');
    }
    if (!this.live.has(session.id)) extras.unsubscribe?.();
  }

  touch(session: LiveSession): void {
    session.lastActivityAt = Date.now();
    const extras = this.deps.router ? this.extras.get(session) : undefined;
    // Cluster mode: refresh the shared record's TTL, at most once a second.
    if (extras && session.lastActivityAt - extras.storeTouchedAt >= 1_000) {
      extras.storeTouchedAt = session.lastActivityAt;
      this.deps.sessionStore.touch(session.id, session.lastActivityAt).catch(() => {});
    }
  }

  /** Ends a session once; later calls are no-ops. */
  async close(session: LiveSession, reason: CloseReason): Promise<void> {
    const router = this.deps.router;
    if (!router) {
      if (!this.live.delete(session.id)) return;
      session.transport.closeWith(reason);
      await session.server.close().catch(() => {});
      await this.deps.sessionStore.delete(session.id);
      this.logClosed(session, reason);
      return;
    }
    // Cluster mode: only a DELETE ends the shared session; any other end drops this node's copy.
    if (reason === 'session_deleted') {
      const signal: SessionSignal = { t: 'delete', o: router.nodeId };
      await Promise.all([
        this.deps.sessionStore.delete(session.id),
        router.bus.publish(`session:${session.id}`, signal),
      ]).catch((err: unknown) =>
        this.deps.logger.warn(
          { session_id: session.id, err: (err as Error).message },
          'cluster.route_failed',
        ),
      );
    }
    await this.closeLocal(session, reason);
  }

  private async closeLocal(session: LiveSession, reason: CloseReason): Promise<void> {
    if (!this.live.delete(session.id)) return;
    this.extras.get(session)?.unsubscribe?.();
    session.transport.closeWith(reason);
    await session.server.close().catch(() => {});
    this.logClosed(session, reason);
  }

  private logClosed(session: LiveSession, reason: CloseReason): void {
    this.deps.logger.info(
      { session_id: session.id, reason, uptime_ms: Date.now() - session.createdAt },
      'session.closed',
    );
  }

  /** Frees sessions with no open stream and no request in flight for the idle TTL. */
  sweep(now: number): void {
    const ttl = this.deps.idleTimeoutMs;
    if (ttl <= 0) return;
    for (const s of this.live.values()) {
      const idle = s.transport.openStreams === 0 && s.transport.pendingRequests === 0;
      if (idle && now - s.lastActivityAt >= ttl) void this.close(s, 'idle_timeout');
      else if (!idle) this.keepShared(s, now, ttl);
    }
  }

  /**
   * Cluster mode: a session busy here (open stream, request running) keeps
   * its shared record from expiring, so other nodes can still serve it.
   */
  private keepShared(session: LiveSession, now: number, ttl: number): void {
    const extras = this.deps.router ? this.extras.get(session) : undefined;
    if (!extras || now - extras.storeTouchedAt < Math.max(1_000, ttl / 3)) return;
    extras.storeTouchedAt = now;
    this.deps.sessionStore.touch(session.id, now).catch(() => {});
  }

  async closeAll(reason: CloseReason): Promise<void> {
    await Promise.all([...this.live.values()].map((s) => this.close(s, reason)));
  }
}
