import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EventTooLarge } from '../session/event-store.js';
import { newNodeId } from './bus.js';
import { RedisBus } from './redis-bus.js';
import { RedisEventStore } from './redis-event-store.js';
import type { RoutedStreamInfo } from './redis-routing.js';
import { RedisSessionStore } from './redis-session-store.js';

export interface RedisClusterOptions {
  /** `redis://[:password@]host:port[/db]` */
  url: string;
  logger: Logger;
  /** Events kept per stream (XADD MAXLEN ~). */
  maxEventsPerStream: number;
  /** Idle TTL of sessions, ms; `0` = never expire. Event streams expire after the same time (1 h when `0`). */
  idleTimeoutMs: number;
  /** Largest serialized message stored for replay; larger ones leave a marker instead. Default: no limit. */
  maxEventBytes?: number;
  /** Told about every message not stored because it is larger than `maxEventBytes`. */
  onEventTooLarge?: (event: EventTooLarge) => void;
  /** Key and channel prefix. Default `tether:`. */
  prefix?: string;
  /** How often the node refreshes its heartbeat key, ms. Default 1000 (key TTL: 3×). */
  heartbeatMs?: number;
}

/** Redis could not be reached at start-up. */
export class ClusterUnavailableError extends Error {
  override readonly name = 'ClusterUnavailableError';
  readonly code = 'TETHER_ERR_CLUSTER_UNAVAILABLE';
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

/**
 * One node's connection to the cluster: the command and subscriber
 * connections, the Redis-backed stores and bus built on them, stream
 * metadata, and this node's heartbeat. `healthy` is false while the command
 * connection is down; ioredis reconnects by itself and each loss and
 * recovery is logged and counted.
 */
export class RedisCluster {
  readonly nodeId = newNodeId();
  readonly prefix: string;
  readonly bus: RedisBus;
  readonly events: RedisEventStore;
  readonly sessions: RedisSessionStore;
  private readonly command: Redis;
  private readonly subscriber: Redis;
  private readonly heartbeatMs: number;
  private readonly streamTtlS: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private connected = false;
  private started = false;
  private stopped = false;
  private lostAt: number | undefined;
  private reconnectCount = 0;
  private lossCount = 0;

  constructor(private readonly options: RedisClusterOptions) {
    this.prefix = options.prefix ?? 'tether:';
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    const ttlMs = options.idleTimeoutMs > 0 ? options.idleTimeoutMs : 60 * 60_000;
    this.streamTtlS = Math.max(1, Math.ceil(ttlMs / 1000));
    const common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2_000,
      retryStrategy: (times: number) => (this.stopped ? null : Math.min(100 * times, 1_000)),
    };
    this.command = new Redis(options.url, { ...common, connectionName: `tether-${this.nodeId}` });
    this.subscriber = new Redis(options.url, { ...common, connectionName: `tether-${this.nodeId}-sub` });
    const log = options.logger;
    for (const [conn, role] of [
      [this.command, 'command'],
      [this.subscriber, 'subscriber'],
    ] as const) {
      conn.on('error', (err: Error) => {
        if (this.started && !this.stopped) log.debug({ err: err.message, role }, 'redis.error');
      });
    }
    this.command.on('ready', () => {
      const wasLost = this.lostAt !== undefined;
      this.connected = true;
      if (wasLost) {
        this.reconnectCount++;
        log.info({ node_id: this.nodeId, down_ms: Date.now() - (this.lostAt ?? 0) }, 'redis.reconnected');
        this.lostAt = undefined;
        this.beat();
      }
    });
    this.command.on('close', () => {
      if (!this.connected) return;
      this.connected = false;
      if (this.stopped) return;
      this.lostAt = Date.now();
      this.lossCount++;
      log.error({ node_id: this.nodeId, redis: redactUrl(options.url) }, 'redis.connection_lost');
    });
    this.bus = new RedisBus(this.nodeId, this.command, this.subscriber, this.prefix, (err) =>
      log.warn({ err }, 'cluster.delivery_failed'),
    );
    this.events = new RedisEventStore(
      this.command,
      this.prefix,
      options.maxEventsPerStream,
      this.streamTtlS,
      {
        ...(options.maxEventBytes === undefined ? {} : { maxEventBytes: options.maxEventBytes }),
        ...(options.onEventTooLarge ? { onEventTooLarge: options.onEventTooLarge } : {}),
      },
    );
    this.sessions = new RedisSessionStore(this.command, this.prefix, options.idleTimeoutMs);
  }

  /** True while the command connection to Redis is up. */
  get healthy(): boolean {
    return this.connected && this.command.status === 'ready';
  }

  /** Connects both connections and starts the heartbeat; rejects with a clear message when Redis is unreachable. */
  async start(): Promise<void> {
    if (this.started) return;
    try {
      await Promise.all([this.command.connect(), this.subscriber.connect()]);
      await this.command.ping();
    } catch (err) {
      this.stopped = true;
      this.command.disconnect();
      this.subscriber.disconnect();
      // A later start() may try again.
      this.stopped = false;
      throw new ClusterUnavailableError(
        `cannot connect to Redis at ${redactUrl(this.options.url)}: ${(err as Error).message}`,
      );
    }
    this.started = true;
    this.connected = true;
    this.beat();
    this.heartbeat = setInterval(() => this.beat(), this.heartbeatMs);
    this.heartbeat.unref();
    this.options.logger.info({ node_id: this.nodeId, redis: redactUrl(this.options.url) }, 'cluster.joined');
  }

  private beat(): void {
    if (!this.healthy) return;
    this.command
      .set(`${this.prefix}node:${this.nodeId}`, String(Date.now()), 'PX', this.heartbeatMs * 3)
      .catch(() => {});
  }

  /** Whether a node's heartbeat is fresh. */
  async nodeAlive(nodeId: string): Promise<boolean> {
    if (nodeId === this.nodeId) return true;
    return (await this.command.exists(`${this.prefix}node:${nodeId}`)) === 1;
  }

  private streamKey(streamId: string): string {
    return `${this.prefix}stream:${streamId}`;
  }

  /** Records which session a logical stream belongs to and which node runs its requests. */
  async registerStream(streamId: string, sessionId: string, pending: unknown[] = []): Promise<void> {
    const key = this.streamKey(streamId);
    const m = this.command.multi().hset(key, { session: sessionId, owner: this.nodeId });
    if (pending.length > 0) m.sadd(`${key}:pending`, ...pending.map((p) => JSON.stringify(p)));
    m.expire(key, this.streamTtlS).expire(`${key}:pending`, this.streamTtlS);
    await m.exec();
  }

  /** A request of the stream was answered (or cancelled). */
  async settle(streamId: string, requestId: unknown): Promise<void> {
    await this.command.srem(`${this.streamKey(streamId)}:pending`, JSON.stringify(requestId));
  }

  /** Every request of the stream is answered: resumers close after the replay. */
  async markDone(streamId: string): Promise<void> {
    const key = this.streamKey(streamId);
    await this.command.multi().hset(key, 'done', '1').del(`${key}:pending`).exec();
  }

  async streamInfo(streamId: string): Promise<RoutedStreamInfo | undefined> {
    const key = this.streamKey(streamId);
    const results = await this.command.multi().hgetall(key).smembers(`${key}:pending`).exec();
    const h = (results?.[0]?.[1] ?? {}) as Record<string, string>;
    if (h.session === undefined) return undefined;
    return {
      session: h.session,
      owner: h.owner,
      done: h.done === '1',
      pending: (results?.[1]?.[1] ?? []) as string[],
    };
  }

  async deleteStreamMeta(streamId: string): Promise<void> {
    const key = this.streamKey(streamId);
    await this.command.del(key, `${key}:pending`);
  }

  /** Registers the cluster's metrics on the instance's registry. */
  registerMetrics(registry: Registry): void {
    const p = 'mcp_tether_';
    new Gauge({
      name: `${p}cluster_sessions`,
      help: 'Live 2025-era sessions across the cluster (records in Redis)',
      registers: [registry],
      collect: async function (this: Gauge) {
        this.set(await cluster.sessions.count().catch(() => Number.NaN));
      },
    });
    const cluster = this;
    new Gauge({
      name: `${p}redis_up`,
      help: '1 while this node is connected to Redis',
      registers: [registry],
      collect() {
        this.set(cluster.healthy ? 1 : 0);
      },
    });
    const lost = new Counter({
      name: `${p}redis_connection_lost_total`,
      help: 'Times this node lost its Redis connection',
      registers: [registry],
      collect() {
        lost.reset();
        lost.inc(cluster.lossCount);
      },
    });
    const reconnects = new Counter({
      name: `${p}redis_reconnects_total`,
      help: 'Times this node re-established its Redis connection after a loss',
      registers: [registry],
      collect() {
        reconnects.reset();
        reconnects.inc(cluster.reconnectCount);
      },
    });
  }

  async close(): Promise<void> {
    if (this.stopped && !this.started) return;
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.healthy) await this.command.del(`${this.prefix}node:${this.nodeId}`).catch(() => {});
    this.subscriber.disconnect();
    this.command.disconnect();
  }

  /** Drops both connections without cleanup (tests, immediate teardown). */
  destroy(): void {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.subscriber.disconnect();
    this.command.disconnect();
  }
}
