import { InMemoryServerEventBus, type ServerEventBus } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { RedisCluster } from '../cluster/redis-cluster.js';
import { ClusterServerEventBus } from '../cluster/server-event-bus.js';
import type { ResolvedTetherOptions } from '../config/options.js';
import type { Metrics } from '../observability/metrics.js';
import { type EventStore, type EventTooLarge, MemoryEventStore } from '../session/event-store.js';
import { MemorySessionStore, type SessionStore } from '../session/session-store.js';

/** Where sessions, events and server-wide changes live: this process, or Redis shared by every node. */
export interface Backends {
  readonly cluster: RedisCluster | undefined;
  readonly eventStore: EventStore;
  readonly sessionStore: SessionStore;
  /** Server-wide changes (`tether.notify.*`, list changes of 2026-07-28 servers). */
  readonly changes: ServerEventBus;
  /** Joins the cluster (once; a failure lets the next call try again). Resolves at once without Redis. */
  start(): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
}

/**
 * The stores and buses of an instance: in memory, or with `redisUrl` the
 * Redis ones every node shares (docs/scaling.md). Stores given as options win.
 */
export function createBackends(
  resolved: ResolvedTetherOptions,
  logger: Logger,
  metrics: Metrics,
  given: { eventStore?: EventStore | undefined; sessionStore?: SessionStore | undefined },
): Backends {
  const onEventTooLarge = (e: EventTooLarge) => {
    logger.warn(
      {
        session_id: e.sessionId,
        stream_id: e.streamId,
        event_id: e.eventId,
        bytes: e.bytes,
        max_event_bytes: e.maxEventBytes,
      },
      'event.too_large',
    );
    metrics.eventTooLarge();
  };
  const cluster =
    resolved.redisUrl === undefined
      ? undefined
      : new RedisCluster({
          url: resolved.redisUrl,
          logger,
          maxEventsPerStream: resolved.maxEventsPerStream,
          maxEventBytes: resolved.maxEventBytes,
          onEventTooLarge,
          idleTimeoutMs: resolved.idleTimeoutMs,
        });
  cluster?.registerMetrics(metrics.registry);
  const deliveryFailed = (error: Error) => logger.warn({ err: error.message }, 'listen.delivery_failed');
  const listenBus = cluster ? new ClusterServerEventBus(cluster.bus, deliveryFailed) : undefined;
  let starting: Promise<void> | undefined;
  return {
    cluster,
    eventStore:
      given.eventStore ??
      cluster?.events ??
      new MemoryEventStore(resolved.maxEventsPerStream, {
        maxEventBytes: resolved.maxEventBytes,
        maxEventBytesPerSession: resolved.maxEventBytesPerSession,
        onEventTooLarge,
      }),
    sessionStore: given.sessionStore ?? cluster?.sessions ?? new MemorySessionStore(),
    changes: listenBus ?? new InMemoryServerEventBus(deliveryFailed),
    start() {
      starting ??= (async () => {
        if (!cluster) return;
        await cluster.start();
        await listenBus?.start();
      })().catch((err: unknown) => {
        // Not joined: the next call (the next request, when mounted without listen()) tries again.
        starting = undefined;
        throw err;
      });
      return starting;
    },
    async close() {
      listenBus?.stop();
      await cluster?.close();
    },
    destroy() {
      listenBus?.stop();
      cluster?.destroy();
    },
  };
}
