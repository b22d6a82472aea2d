import type { McpServer } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { CloseReason } from '../../connection/close-reason.js';
import type { ConnectionRegistry } from '../../connection/registry.js';
import { randomId } from '../../connection/sse-connection.js';
import type { EventStore } from '../../session/event-store.js';
import type { SessionStore } from '../../session/session-store.js';
import { SessionTransport } from './session-transport.js';

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

  async create(protocolVersion: string | undefined, principal?: string): Promise<LiveSession> {
    const id = randomId();
    const now = Date.now();
    const transport = new SessionTransport(id, {
      registry: this.deps.registry,
      eventStore: this.deps.eventStore,
      retryMs: this.deps.retryMs,
      onStreamsChanged: () => this.touch(session),
      onReplayed: (count) => this.deps.onReplayed(count),
    });
    transport.protocolVersion = protocolVersion;
    const server = await this.deps.createServer();
    const session: LiveSession = { id, server, transport, createdAt: now, lastActivityAt: now, principal };
    await server.connect(transport);
    this.live.set(id, session);
    await this.deps.sessionStore.create({
      id,
      createdAt: now,
      lastActivityAt: now,
      protocolVersion,
      principal,
    });
    this.deps.logger.info({ session_id: id, protocol_version: protocolVersion }, 'session.created');
    return session;
  }

  touch(session: LiveSession): void {
    session.lastActivityAt = Date.now();
  }

  /** Ends a session once; later calls are no-ops. */
  async close(session: LiveSession, reason: CloseReason): Promise<void> {
    if (!this.live.delete(session.id)) return;
    session.transport.closeWith(reason);
    await session.server.close().catch(() => {});
    await this.deps.sessionStore.delete(session.id);
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
    }
  }

  async closeAll(reason: CloseReason): Promise<void> {
    await Promise.all([...this.live.values()].map((s) => this.close(s, reason)));
  }
}
