import {
  type SpecTypeName,
  type StandardSchemaWithJSON,
  specTypeSchemas,
} from '@modelcontextprotocol/server';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { CLOSE_REASONS } from '../connection/close-reason.js';
import type { ConnectionRegistry } from '../connection/registry.js';
import type { TransportName } from '../connection/sse-connection.js';

/** Why a message was refused, as counted in `mcp_tether_requests_refused_total{reason}`. */
export type RefusalReason = 'batch_too_large' | 'session_busy' | 'server_busy';

export const REFUSAL_REASONS: readonly RefusalReason[] = ['batch_too_large', 'session_busy', 'server_busy'];

const TRANSPORTS: TransportName[] = ['streamable-http', 'http-sse', 'seed-sse'];

/** How a JSON-RPC request ended, as counted in `requests_total`. */
export type RequestOutcome = 'ok' | 'error' | 'aborted';

/** The `mcp_tether_` metrics of one instance, on a registry of its own. */
export interface Metrics {
  readonly registry: Registry;
  /** Counts one JSON-RPC request and observes its duration. */
  request(method: string, outcome: RequestOutcome, seconds: number): void;
  eventsReplayed(count: number): void;
  /** Counts messages refused by request admission (batch cap, in-flight caps). */
  requestsRefused(reason: RefusalReason, count: number): void;
  /** Counts one message delivered live but not stored for replay (larger than `maxEventBytes`). */
  eventTooLarge(): void;
  /** The exposition text for `GET /metrics`. */
  text(): Promise<string>;
  readonly contentType: string;
}

/** The tasks extension's methods (`io.modelcontextprotocol/tasks`), outside the SDK's spec schemas. */
const TASKS_EXTENSION_METHODS = ['tasks/get', 'tasks/update', 'tasks/cancel'];

/** Spec schemas whose `method` members name every request and notification of the protocol. */
const METHOD_SCHEMAS = [
  'ClientRequest',
  'ServerRequest',
  'ClientNotification',
  'ServerNotification',
  'GetTaskRequest',
  'GetTaskPayloadRequest',
  'ListTasksRequest',
  'CancelTaskRequest',
  'TaskStatusNotification',
] as const satisfies readonly SpecTypeName[];

/** The `method` constants a spec schema allows, read from its JSON Schema (one object or a union of them). */
function methodsOf(name: SpecTypeName): string[] {
  // The spec schemas carry their JSON Schema (Standard JSON Schema); their static type does not say so.
  const standard = (specTypeSchemas[name] as unknown as StandardSchemaWithJSON)['~standard'];
  const schema = standard.jsonSchema.input({ target: 'draft-2020-12' }) as {
    anyOf?: Array<{ properties?: { method?: { const?: unknown } } }>;
    properties?: { method?: { const?: unknown } };
  };
  return [...(schema.anyOf ?? [schema])]
    .map((member) => member.properties?.method?.const)
    .filter((method): method is string => typeof method === 'string');
}

/**
 * The methods counted under their own `method` label: the spec's (from the
 * SDK's schemas) and the tasks extension's. Anything else is `other`, so a
 * client cannot grow the label set or the size of a scrape.
 */
export const METRIC_METHODS: ReadonlySet<string> = new Set([
  ...METHOD_SCHEMAS.flatMap(methodsOf),
  ...TASKS_EXTENSION_METHODS,
]);

/** The `method` label a request is counted under. */
export function methodLabel(method: string): string {
  return METRIC_METHODS.has(method) ? method : 'other';
}

/**
 * Builds the metrics and ties the connection counters to the registry's
 * open/close events, so they always match what the registry did.
 *
 * @example
 * const metrics = createMetrics(registry, () => sessions.size);
 * res.end(await metrics.text());
 */
export function createMetrics(
  connections: ConnectionRegistry,
  sessionCount: () => number,
  hibernatingCount: () => number = () => 0,
): Metrics {
  const registry = new Registry();
  // Event-loop delay sampled every 100 ms rather than prom-client's 10 ms: the
  // finer timer was most of an idle server's CPU, for no gain at scrape intervals.
  collectDefaultMetrics({ register: registry, prefix: 'mcp_tether_', eventLoopMonitoringPrecision: 100 });
  const p = 'mcp_tether_';

  new Gauge({
    name: `${p}connections_active`,
    help: 'Open SSE streams, by transport',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const t of TRANSPORTS) this.set({ transport: t }, connections.countBy(t));
    },
  });
  const opened = new Counter({
    name: `${p}connections_opened_total`,
    help: 'SSE streams opened, by transport',
    labelNames: ['transport'],
    registers: [registry],
  });
  const closed = new Counter({
    name: `${p}connections_closed_total`,
    help: 'SSE streams closed, by transport and close reason',
    labelNames: ['transport', 'reason'],
    registers: [registry],
  });
  for (const t of TRANSPORTS) {
    opened.inc({ transport: t }, 0);
    for (const reason of CLOSE_REASONS) closed.inc({ transport: t, reason }, 0);
  }
  const pings = new Counter({
    name: `${p}pings_sent_total`,
    help: 'Keepalive pings written',
    registers: [registry],
  });
  const pingFailures = new Counter({
    name: `${p}ping_failures_total`,
    help: 'Keepalive or liveness pings that failed (unanswered, undrained or failed writes)',
    registers: [registry],
  });
  const requests = new Counter({
    name: `${p}requests_total`,
    help: 'JSON-RPC requests handled, by method and outcome',
    labelNames: ['method', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: `${p}request_duration_seconds`,
    help: 'Time from a JSON-RPC request arriving to its response being written',
    labelNames: ['method'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  new Gauge({
    name: `${p}sessions_active`,
    help: 'Live sessions of this process (2025-era, HTTP+SSE and streaming endpoint)',
    registers: [registry],
    collect() {
      this.set(sessionCount());
    },
  });
  new Gauge({
    name: `${p}sessions_hibernating`,
    help: '2025-era sessions of this process holding no SDK server (idle, or not yet asked anything); built on their next request',
    registers: [registry],
    collect() {
      this.set(hibernatingCount());
    },
  });
  const refused = new Counter({
    name: `${p}requests_refused_total`,
    help: 'JSON-RPC messages refused before they ran: by a batch over the cap, or past the in-flight caps',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of REFUSAL_REASONS) refused.inc({ reason }, 0);
  const replayed = new Counter({
    name: `${p}events_replayed_total`,
    help: 'Events replayed to clients resuming with Last-Event-ID',
    registers: [registry],
  });

  const tooLarge = new Counter({
    name: `${p}events_too_large_total`,
    help: 'Messages delivered live but not stored for replay, being larger than maxEventBytes',
    registers: [registry],
  });

  connections.listen({
    opened: (c) => opened.inc({ transport: c.transport }),
    closed: (c, reason) => closed.inc({ transport: c.transport, reason }),
    pinged: () => pings.inc(),
    pingFailed: () => pingFailures.inc(),
  });

  return {
    registry,
    contentType: registry.contentType,
    request(method, outcome, seconds) {
      const label = methodLabel(method);
      requests.inc({ method: label, outcome });
      duration.observe({ method: label }, seconds);
    },
    eventsReplayed: (n) => replayed.inc(n),
    requestsRefused: (reason, n) => refused.inc({ reason }, n),
    eventTooLarge: () => tooLarge.inc(),
    text: () => registry.metrics(),
  };
}
