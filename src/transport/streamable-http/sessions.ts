import type {
  JSONRPCMessage,
  McpServer,
  RequestId,
  ServerEvent,
  ServerEventBus,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { CloseReason } from '../../connection/close-reason.js';
import { randomId } from '../../connection/ids.js';
import type { ConnectionRegistry } from '../../connection/registry.js';
import { rpcErrorOf } from '../../errors.js';
import { isRequest } from '../../protocol/json-rpc.js';
import type { EventStore } from '../../session/event-store.js';
import type { ClusterRouting } from '../../session/routing.js';
import type { SessionStore } from '../../session/session-store.js';
import { SERVER_EVENT_METHODS } from '../server-events.js';
import { InitializeLobby } from './lobby.js';
import { SessionTransport } from './session-transport.js';

/** A 2025-era session served by this process. */
export interface LiveSession {
  readonly id: string;
  /**
   * The session's SDK server; `undefined` while the session hibernates (see
   * {@link StreamableHttpSessions.wake}).
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

interface SessionExtras {
  unsubscribe?: () => void;
  storeTouchedAt: number;
}

const UNKNOWN_CLIENT_INIT = (protocolVersion: string | undefined) => ({
  protocolVersion,
  capabilities: {},
  clientInfo: { name: 'unknown', version: '0' },
});

/** The session ended while its server was being rebuilt for a request. */
export class SessionEndedError extends Error {
  constructor(readonly sessionId: string) {
    super(`session ${sessionId} ended while its server was being rebuilt`);
  }
}

/**
 * The 2025-era sessions of this process: each pairs an SDK `McpServer` with
 * its {@link SessionTransport}. A session ends on DELETE, when idle for the
 * TTL with no open stream, or at shutdown; each end is logged with its reason.
 * A session whose server has had nothing to do for `hibernateAfterMs`
 * hibernates: the server (most of a session's memory) is let go, the
 * transport with its streams and events stays, and {@link wake} rebuilds the
 * server from the stored `initialize` when the client next needs it.
 *
 * @example
 * const session = await sessions.create('2025-11-25');
 * sessions.get(session.id) === session; // true
 */
export class StreamableHttpSessions {
  private readonly live = new Map<string, LiveSession>();
  private readonly extras = new WeakMap<LiveSession, SessionExtras>();
  private readonly rehydrating = new Map<string, Promise<LiveSession | undefined>>();
  private readonly waking = new Map<LiveSession, Promise<McpServer>>();
  private readonly stopChanges: (() => void) | undefined;
  private readonly lobby: InitializeLobby;

  constructor(private readonly deps: SessionsDeps) {
    this.stopChanges = deps.changes?.subscribe((event) => this.broadcast(event));
    this.lobby = new InitializeLobby(deps.createServer);
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
    return this.deps.router !== undefined;
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
      unserved: (message, transport) => {
        if (isRequest(message) && message.method === 'initialize') this.answerFromLobby(transport, message);
      },
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
    await this.lobby.ready();
    const id = randomId();
    const now = Date.now();
    const standaloneStreamId = this.deps.router ? randomId() : undefined;
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

  private answerFromLobby(transport: SessionTransport, request: JSONRPCMessage & { id: RequestId }): void {
    this.lobby
      .answer(request)
      .catch(
        (err: unknown): JSONRPCMessage =>
          rpcErrorOf('TETHER_ERR_INTERNAL', {
            id: request.id,
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
    // Known here from now on, its server built when a request needs one (see wake()).
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
    await this.join(session);
    this.deps.logger.info({ session_id: id, protocol_version: record.protocolVersion }, 'session.rehydrated');
    return session;
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
    if (this.live.get(session.id) !== session || session.transport.closed) {
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
  private hibernate(session: LiveSession): void {
    const server = session.server;
    if (!server || this.waking.has(session)) return;
    session.server = undefined;
    session.transport.detachServer();
    session.transport.forgetFinished();
    this.deps.logger.debug({ session_id: session.id }, 'session.hibernated');
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

  /** Cluster mode: follows what other nodes say of the session (DELETE, cancellations, forwarded responses). */
  private async join(session: LiveSession): Promise<void> {
    const router = this.deps.router;
    if (!router) return;
    const extras: SessionExtras = { storeTouchedAt: Date.now() };
    this.extras.set(session, extras);
    try {
      extras.unsubscribe = await router.join(session.id, {
        deleted: () => void this.closeLocal(session, 'session_deleted'),
        cancelled: (message) => session.transport.deliverRemoteCancel(message),
        response: (message) => session.transport.deliverForwardedResponse(message),
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
      await this.dropServer(session);
      await this.deps.sessionStore.delete(session.id);
      this.logClosed(session, reason);
      return;
    }
    // Cluster mode: only a DELETE ends the shared session; any other end drops this node's copy.
    if (reason === 'session_deleted') {
      await Promise.all([this.deps.sessionStore.delete(session.id), router.announceDelete(session.id)]).catch(
        (err: unknown) =>
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
    await this.dropServer(session);
    this.logClosed(session, reason);
  }

  private async dropServer(session: LiveSession): Promise<void> {
    const server = session.server;
    if (!server) return;
    session.server = undefined;
    await server.close().catch(() => {});
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
        if (!idle) this.keepShared(s, now, ttl);
      }
      if (hibernateAfter > 0 && now - s.lastUsedAt >= hibernateAfter && s.transport.quiescent) {
        if (s.server) this.hibernate(s);
        else s.transport.forgetFinished();
      }
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

  /** Immediate: every session's streams end now; the rest of the teardown runs on in the background. */
  destroyAll(): void {
    for (const s of this.live.values()) s.transport.closeWith('shutdown');
    void this.closeAll('shutdown');
  }

  async closeAll(reason: CloseReason): Promise<void> {
    this.stopChanges?.();
    await Promise.all([...this.live.values()].map((s) => this.close(s, reason)));
    await this.lobby.close();
  }
}
