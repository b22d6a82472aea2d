import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer, McpServerOptions } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { ResolvedTetherOptions, TetherOptions } from '../config/options.js';
import type { ConnectionRegistry } from '../connection/registry.js';
import type { Metrics } from '../observability/metrics.js';
import type { EventStore } from '../session/event-store.js';
import type { SessionStore } from '../session/session-store.js';
import type { TaskRuntimeOptions } from '../tasks/runtime.js';
import type { ModernEndpoint } from '../transport/streamable-http/modern.js';
import type { SessionsView } from './sessions-view.js';

/** Which protocol era a server instance is built for. */
export interface SetupContext {
  era: 'legacy' | 'modern';
}

/**
 * Registers tools, resources and prompts on the SDK's `McpServer`. Called for
 * every 2025-era session and every 2026-07-28 request, so keep it cheap and
 * free of shared mutable state it does not mean to share.
 */
export type SetupFn = (server: McpServer, context: SetupContext) => void | Promise<void>;

/** Options for {@link createTether}: the runtime options plus the setup function. */
export interface CreateTetherOptions extends TetherOptions {
  /** Registers what the server offers. Default: the demo tools (`echo`, `add`, `server_time`, `countdown`). */
  setup?: SetupFn;
  /**
   * Options for every `McpServer` built (capabilities, instructions,
   * `requestState` verification for multi-round-trip results, …). A tools
   * module may export them as `serverOptions`. Default: the `logging` capability.
   */
  serverOptions?: McpServerOptions;
  /**
   * The MCP Tasks extension (`io.modelcontextprotocol/tasks`, 2026-07-28 only): store
   * bounds, task TTL, poll interval, or your own `TaskStore`. `false` turns it off
   * (no capability, no `tasks/*` methods; task tools then always run synchronously).
   * See docs/tasks.md.
   */
  tasks?: TaskRuntimeOptions | false;
  /** Session store for 2025-era sessions. Default: in memory (or Redis with `redisUrl`). */
  sessionStore?: SessionStore;
  /** Event store for `Last-Event-ID` resumption. Default: in memory (or Redis with `redisUrl`). */
  eventStore?: EventStore;
}

/** Where a listening server can be reached. */
export interface ListeningAddress {
  host: string;
  port: number;
  /** Base URL, e.g. `http://127.0.0.1:8000`; the MCP endpoint is `${url}/mcp`. */
  url: string;
}

/** A running mcp-tether instance. */
export interface Tether {
  /** `node:http` request handler; mount it standalone or in Express/Fastify. */
  readonly handler: (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void;
  /** Starts a `node:http` server on the configured (or given) port and host. */
  listen(port?: number, host?: string): Promise<ListeningAddress>;
  /** Graceful and idempotent: stops accepting, closes every stream with a `retry` hint, ends sessions. */
  close(): Promise<void>;
  /** Immediate: drops every socket. Safe to call twice and after `close()`. */
  destroy(): void;
  readonly options: ResolvedTetherOptions;
  readonly logger: Logger;
  readonly registry: ConnectionRegistry;
  /** The 2025-era sessions of this process, read-only. */
  readonly sessions: SessionsView;
  /** The instance's Prometheus metrics (also served on `GET /metrics`). */
  readonly metrics: Metrics;
  /** Publishes change notifications to every session and open 2026-07-28 `subscriptions/listen` stream (of every node, with Redis). */
  readonly notify: ModernEndpoint['notify'];
  /**
   * With `redisUrl`: connects to Redis and joins the cluster (`listen()` does
   * it first). Rejects with a clear message when Redis is unreachable.
   * Without `redisUrl`: resolves at once.
   */
  start(): Promise<void>;
  /** This node's id in the cluster; undefined without `redisUrl`. */
  readonly nodeId: string | undefined;
}
