// Cluster mode (Redis): what this process does for sessions it shares with
// other nodes through the shared record and ClusterRouting. Apart from
// sessions.ts so that a single process carries no cluster state (no
// memberships, no rehydrations in flight): StreamableHttpSessions holds one
// of these only when a router is configured.
import type { Logger } from 'pino';
import type { ClusterRouting } from '../../session/routing.js';
import type { SessionRecord, SessionStore } from '../../session/session-store.js';
import type { LiveSession } from './live-session.js';

export interface ClusterSessionsDeps {
  router: ClusterRouting;
  sessionStore: SessionStore;
  logger: Logger;
  /** Whether the session is still served here (not closed while joining). */
  isLive(session: LiveSession): boolean;
  /** Another node deleted the session: end this node's copy. */
  deleted(session: LiveSession): void;
}

interface Membership {
  unsubscribe?: () => void;
  storeTouchedAt: number;
}

/**
 * The cluster side of this process's 2025-era sessions: rebuilding a session
 * another node created from its shared record, following what other nodes
 * say of it, keeping the record's TTL fresh while the session is used here,
 * and announcing a DELETE.
 *
 * @example
 * const cluster = new ClusterSessions({ router, sessionStore, logger, isLive, deleted });
 * const session = await cluster.rehydrate(id, (record) => adopt(record));
 */
export class ClusterSessions {
  private readonly members = new WeakMap<LiveSession, Membership>();
  private readonly rehydrating = new Map<string, Promise<LiveSession | undefined>>();

  constructor(private readonly deps: ClusterSessionsDeps) {}

  /**
   * The session another node created, rebuilt here from its stored record by
   * `adopt` (undefined when there is none). Concurrent calls share one
   * rebuild. Rejects when the store cannot be reached.
   */
  rehydrate(id: string, adopt: (record: SessionRecord) => LiveSession): Promise<LiveSession | undefined> {
    let pending = this.rehydrating.get(id);
    if (!pending) {
      pending = this.load(id, adopt).finally(() => this.rehydrating.delete(id));
      this.rehydrating.set(id, pending);
    }
    return pending;
  }

  private async load(
    id: string,
    adopt: (record: SessionRecord) => LiveSession,
  ): Promise<LiveSession | undefined> {
    const record = await this.deps.sessionStore.get(id);
    if (!record) return undefined;
    const session = adopt(record);
    await this.join(session);
    this.deps.logger.info({ session_id: id, protocol_version: record.protocolVersion }, 'session.rehydrated');
    return session;
  }

  /** Follows what other nodes say of the session (DELETE, cancellations, forwarded responses). */
  async join(session: LiveSession): Promise<void> {
    const member: Membership = { storeTouchedAt: Date.now() };
    this.members.set(session, member);
    try {
      member.unsubscribe = await this.deps.router.join(session.id, {
        deleted: () => this.deps.deleted(session),
        cancelled: (message) => session.transport.deliverRemoteCancel(message),
        response: (message) => session.transport.deliverForwardedResponse(message),
      });
    } catch (err) {
      this.deps.logger.warn({ session_id: session.id, err: (err as Error).message }, 'cluster.route_failed');
    }
    if (!this.deps.isLive(session)) member.unsubscribe?.();
  }

  /** Stops following the session (this node's copy ended). */
  leave(session: LiveSession): void {
    this.members.get(session)?.unsubscribe?.();
  }

  /** The session was used here: refresh the shared record's TTL, at most once a second. */
  touched(session: LiveSession): void {
    const member = this.members.get(session);
    if (member && session.lastActivityAt - member.storeTouchedAt >= 1_000) {
      member.storeTouchedAt = session.lastActivityAt;
      this.refresh(session.id, session.lastActivityAt);
    }
  }

  /**
   * A session busy here (open stream, request running) keeps its shared
   * record from expiring, so other nodes can still serve it.
   */
  keepShared(session: LiveSession, now: number, ttl: number): void {
    const member = this.members.get(session);
    if (!member || now - member.storeTouchedAt < Math.max(1_000, ttl / 3)) return;
    member.storeTouchedAt = now;
    this.refresh(session.id, now);
  }

  /** Pushes the shared record's expiry out; a failure is logged (the next use tries again). */
  private refresh(sessionId: string, at: number): void {
    this.deps.sessionStore
      .touch(sessionId, at)
      .catch((err: unknown) =>
        this.deps.logger.warn(
          { session_id: sessionId, err: (err as Error).message, op: 'touch' },
          'cluster.route_failed',
        ),
      );
  }

  /** A DELETE: the shared record goes and every node is told. Failures are logged, not thrown. */
  async deleteShared(sessionId: string): Promise<void> {
    await Promise.all([
      this.deps.sessionStore.delete(sessionId),
      this.deps.router.announceDelete(sessionId),
    ]).catch((err: unknown) =>
      this.deps.logger.warn({ session_id: sessionId, err: (err as Error).message }, 'cluster.route_failed'),
    );
  }
}
