import type { Redis } from 'ioredis';
import type { SessionRecord, SessionStore } from '../session/session-store.js';

/**
 * 2025-era session records in Redis: one hash per session
 * (`<prefix>session:<id>`) that expires after the idle TTL without activity,
 * plus a sorted set (`<prefix>sessions`, score = expiry time) for the
 * cluster-wide count. Holds what a node needs to rebuild the session's
 * server: the client's initialize params, principal, protocol version and
 * the standalone stream id.
 */
export class RedisSessionStore implements SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Idle TTL in ms; `0` = records never expire. */
    private readonly ttlMs: number,
  ) {}

  private key(id: string): string {
    return `${this.prefix}session:${id}`;
  }

  private get index(): string {
    return `${this.prefix}sessions`;
  }

  private expiryScore(now: number): number {
    return this.ttlMs > 0 ? now + this.ttlMs : Number.MAX_SAFE_INTEGER;
  }

  async create(record: SessionRecord): Promise<void> {
    const fields: Record<string, string> = {
      id: record.id,
      createdAt: String(record.createdAt),
      lastActivityAt: String(record.lastActivityAt),
    };
    if (record.protocolVersion !== undefined) fields.protocolVersion = record.protocolVersion;
    if (record.principal !== undefined) fields.principal = record.principal;
    if (record.initParams !== undefined) fields.initParams = JSON.stringify(record.initParams);
    if (record.standaloneStreamId !== undefined) fields.standaloneStreamId = record.standaloneStreamId;
    const key = this.key(record.id);
    const m = this.redis.multi().hset(key, fields);
    if (this.ttlMs > 0) m.pexpire(key, this.ttlMs);
    m.zadd(this.index, this.expiryScore(record.lastActivityAt), record.id);
    await m.exec();
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    const h = await this.redis.hgetall(this.key(id));
    if (h.id === undefined) return undefined;
    return {
      id: h.id,
      createdAt: Number(h.createdAt),
      lastActivityAt: Number(h.lastActivityAt),
      protocolVersion: h.protocolVersion,
      ...(h.principal !== undefined ? { principal: h.principal } : {}),
      ...(h.initParams !== undefined ? { initParams: JSON.parse(h.initParams) as unknown } : {}),
      ...(h.standaloneStreamId !== undefined ? { standaloneStreamId: h.standaloneStreamId } : {}),
    };
  }

  async touch(id: string, now: number): Promise<boolean> {
    const key = this.key(id);
    const m = this.redis.multi().exists(key).hset(key, 'lastActivityAt', String(now));
    if (this.ttlMs > 0) m.pexpire(key, this.ttlMs);
    m.zadd(this.index, 'XX', this.expiryScore(now), id);
    const results = await m.exec();
    const existed = results?.[0]?.[1] === 1;
    // HSET on a missing key created a stub: remove it again.
    if (!existed) await this.redis.del(key);
    return existed;
  }

  async update(id: string, patch: Partial<Omit<SessionRecord, 'id'>>): Promise<void> {
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) continue;
      fields[k] = typeof v === 'string' ? v : k === 'initParams' ? JSON.stringify(v) : String(v);
    }
    if (Object.keys(fields).length === 0) return;
    const key = this.key(id);
    if ((await this.redis.exists(key)) === 1) await this.redis.hset(key, fields);
  }

  async delete(id: string): Promise<void> {
    await this.redis.multi().del(this.key(id)).zrem(this.index, id).exec();
  }

  /** Sessions alive across the cluster (records not yet expired). */
  async count(): Promise<number> {
    const now = Date.now();
    const results = await this.redis
      .multi()
      .zremrangebyscore(this.index, '-inf', `(${now}`)
      .zcard(this.index)
      .exec();
    return Number(results?.[1]?.[1] ?? 0);
  }
}
