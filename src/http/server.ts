import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import {
  InMemoryServerEventBus,
  McpServer,
  type McpServerOptions,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { RedisCluster } from '../cluster/redis-cluster.js';
import { ClusterServerEventBus } from '../cluster/server-event-bus.js';
import { type ResolvedTetherOptions, resolveOptions, type TetherOptions } from '../config/options.js';
import { KeepaliveScheduler } from '../connection/keepalive-scheduler.js';
import { ConnectionRegistry, DEFAULT_CLOSE_GRACE_MS } from '../connection/registry.js';
import { registerDemoTools } from '../demo/demo-tools.js';
import { sendError } from '../errors.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { type EventTooLarge, MemoryEventStore } from '../session/event-store.js';
import { MemorySessionStore } from '../session/session-store.js';
import { TaskRuntime, type TaskRuntimeOptions } from '../tasks/runtime.js';
import { introspect } from '../transport/introspect.js';
import { createLegacySse } from '../transport/legacy-sse.js';
import { meterTransport, RequestTracker } from '../transport/request-tracker.js';
import { createSeedSse } from '../transport/seed-sse.js';
import { createStreamableHttpHandler } from '../transport/streamable-http/handler.js';
import { createModernEndpoint, type ModernEndpoint } from '../transport/streamable-http/modern.js';
import { StreamableHttpSessions } from '../transport/streamable-http/sessions.js';
import { createAdminApi } from './admin.js';
import { TokenAuth } from './auth.js';
import { applyCors } from './cors.js';
import { RateLimiter } from './rate-limit.js';
import { hostAllowed, isLoopbackBind, originAllowed } from './security.js';
import { isTestPagePath, serveTestPage } from './static.js';

/** Revisions of the stateless era served on `/mcp` alongside the 2025-era ones. */
const MODERN_PROTOCOL_VERSIONS = ['2026-07-28'];

const { version: PACKAGE_VERSION } = createRequire(import.meta.url)('../../package.json') as {
  version: string;
};

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
  readonly sessions: StreamableHttpSessions;
  /** The instance's Prometheus metrics (also served on `GET /metrics`). */
  readonly metrics: Metrics;
  /** Publishes change notifications to open 2026-07-28 `subscriptions/listen` streams (of every node, with Redis). */
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

function pathOf(req: IncomingMessage, basePath: string): string {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  let path = q === -1 ? raw : raw.slice(0, q);
  if (basePath !== '' && path.startsWith(basePath)) path = path.slice(basePath.length) || '/';
  return path;
}

/**
 * The path prefix in front of `route` as the client sees it: Express strips
 * its mount path from `req.url` but keeps it in `originalUrl`.
 */
function mountPrefix(req: IncomingMessage, route: string): string {
  const full = ((req as { originalUrl?: string }).originalUrl ?? req.url ?? '').split('?')[0] ?? '';
  return full.endsWith(route) ? full.slice(0, full.length - route.length) : '';
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Builds an mcp-tether instance: the `/mcp` endpoint (every protocol
 * revision), the connection registry, one keepalive scheduler, and health
 * endpoints.
 *
 * @example
 * import { createTether } from 'mcp-tether';
 * import { z } from 'zod';
 *
 * const tether = createTether({
 *   port: 8000,
 *   setup(server) {
 *     server.registerTool('hello', { inputSchema: z.object({ name: z.string() }) }, async ({ name }) => ({
 *       content: [{ type: 'text', text: `Hello, ${name}` }],
 *     }));
 *   },
 * });
 * const { url } = await tether.listen();
 * // later: await tether.close();
 */
export function createTether(options: CreateTetherOptions = {}): Tether {
  const resolved = resolveOptions(options, PACKAGE_VERSION);
  const logger =
    options.logger ??
    createLogger({
      level: resolved.logLevel,
      ...(resolved.logFormat ? { pretty: resolved.logFormat === 'pretty' } : {}),
    });
  const setup: SetupFn = options.setup ?? ((server) => registerDemoTools(server));
  const serverOptions: McpServerOptions = {
    ...options.serverOptions,
    capabilities: { logging: {}, ...options.serverOptions?.capabilities },
  };
  const registry = new ConnectionRegistry(
    logger,
    resolved.retryMs,
    DEFAULT_CLOSE_GRACE_MS,
    resolved.maxBufferedBytes,
  );
  let sessionCount = () => 0;
  let hibernatingCount = () => 0;
  const metrics = createMetrics(
    registry,
    () => sessionCount(),
    () => hibernatingCount(),
  );
  const requests = new RequestTracker(metrics);
  const scheduler = new KeepaliveScheduler(registry, resolved);
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
  // With Redis, sessions, events and message routing are shared by every node (docs/scaling.md).
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
  const eventStore =
    options.eventStore ??
    cluster?.events ??
    new MemoryEventStore(resolved.maxEventsPerStream, {
      maxEventBytes: resolved.maxEventBytes,
      maxEventBytesPerSession: resolved.maxEventBytesPerSession,
      onEventTooLarge,
    });
  const sessionStore = options.sessionStore ?? cluster?.sessions ?? new MemorySessionStore();
  const listenBus = cluster
    ? new ClusterServerEventBus(cluster.bus, (error) =>
        logger.warn({ err: error.message }, 'listen.delivery_failed'),
      )
    : undefined;
  // Server-wide changes (`tether.notify.*`, list changes of 2026-07-28 servers) reach
  // `subscriptions/listen` streams and 2025-era sessions' standalone streams alike.
  const changes =
    listenBus ??
    new InMemoryServerEventBus((error) => logger.warn({ err: error.message }, 'listen.delivery_failed'));
  let starting: Promise<void> | undefined;
  const start = (): Promise<void> => {
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
  };

  const tasks = options.tasks === false ? undefined : new TaskRuntime({ logger, ...options.tasks });

  /** Builds a server for one session or request; its traffic is metered unless it is for introspection. */
  const buildServer = async (era: SetupContext['era'], metered = true): Promise<McpServer> => {
    const server = new McpServer({ ...resolved.serverInfo }, serverOptions);
    // Tasks extension hook (2026-07-28 only): advertises the extension, installs tasks/get,
    // tasks/update and tasks/cancel, and lets `registerTaskTool` in the setup function reach
    // the instance-wide task store. 2025-era instances are left as they are.
    if (era === 'modern') tasks?.attach(server);
    await setup(server, { era });
    if (metered) {
      const connect = server.connect.bind(server);
      server.connect = async (transport) => {
        await connect(transport);
        meterTransport(transport, requests);
      };
    }
    return server;
  };

  const sessions = new StreamableHttpSessions({
    registry,
    eventStore,
    sessionStore,
    logger,
    retryMs: resolved.retryMs,
    idleTimeoutMs: resolved.idleTimeoutMs,
    hibernateAfterMs: resolved.hibernateAfterMs,
    createServer: () => buildServer('legacy'),
    changes,
    onReplayed: (count) => metrics.eventsReplayed(count),
    router: cluster,
  });
  scheduler.onTick((now) => sessions.sweep(now));
  scheduler.onTick((now) => {
    tasks?.sweep(now).catch((err: unknown) => logger.warn({ err }, 'tasks.sweep_failed'));
  });
  const modern = createModernEndpoint({
    registry,
    logger,
    maxBodyBytes: resolved.maxBodyBytes,
    maxSubscriptions: resolved.maxConnections > 0 ? resolved.maxConnections : Number.MAX_SAFE_INTEGER,
    createServer: () => buildServer('modern'),
    bus: changes,
  });
  const streamableHttp = createStreamableHttpHandler({
    sessions,
    modern,
    logger,
    maxBodyBytes: resolved.maxBodyBytes,
    admitSession: (req, res) => admitSession(req, res),
    ...(cluster ? { clusterHealthy: () => cluster.healthy } : {}),
  });
  const streamDeps = {
    registry,
    logger,
    maxBodyBytes: resolved.maxBodyBytes,
    createServer: () => buildServer('legacy'),
  };
  const legacySse = createLegacySse(streamDeps);
  const seedSse = createSeedSse({ ...streamDeps, retryMs: resolved.retryMs });

  async function serverInfo(req: IncomingMessage): Promise<unknown> {
    const surface = await introspect(await buildServer('legacy', false));
    const prefix = mountPrefix(req, '/mcp/stdio');
    const endpoint = (method: string, path: string, purpose: string) => ({
      method,
      path: prefix + path,
      purpose,
    });
    return {
      name: resolved.serverInfo.name,
      version: resolved.serverInfo.version,
      protocolVersions: [
        ...MODERN_PROTOCOL_VERSIONS,
        ...SUPPORTED_PROTOCOL_VERSIONS.filter((v) => v >= '2024-11-05'),
      ],
      capabilities: surface.capabilities,
      tools: surface.tools,
      endpoints: [
        endpoint(
          'POST',
          '/mcp',
          'Streamable HTTP: JSON-RPC requests (every revision; initialize opens a 2025-era session)',
        ),
        endpoint(
          'GET',
          '/mcp',
          'Streamable HTTP: standalone SSE stream of a session, or resumption with Last-Event-ID',
        ),
        endpoint('DELETE', '/mcp', 'Streamable HTTP: end a session'),
        endpoint('GET', '/sse', 'legacy HTTP+SSE (2024-11-05): open a session stream'),
        endpoint('POST', '/messages?sessionId=<id>', 'legacy HTTP+SSE: send a message to a session'),
        endpoint('POST', '/mcp/sse', 'streaming endpoint: welcome, response/error and ping events'),
        endpoint(
          'POST',
          '/mcp/sse?connection_id=<id>',
          'streaming endpoint: follow-up request on an open stream',
        ),
        endpoint('GET', '/mcp/stdio', 'this server description'),
        endpoint('GET', '/healthz', 'liveness'),
        endpoint('GET', '/readyz', 'readiness (503 while draining or at the connection cap)'),
        endpoint('GET', '/metrics', 'Prometheus metrics'),
        endpoint('GET', '/mcp/connections', 'admin: live connections (needs the admin token)'),
        endpoint('DELETE', '/mcp/connections/<id>', 'admin: close one connection with reason manual'),
      ],
    };
  }

  sessionCount = () => sessions.size + legacySse.size + seedSse.size;
  hibernatingCount = () => sessions.hibernating;
  const tokens = new TokenAuth(resolved.authTokens);
  const admin = createAdminApi(registry, resolved.adminToken);
  const sessionLimiter = new RateLimiter(resolved.sessionsPerMinute, resolved.sessionBurst);
  scheduler.onTick((now) => sessionLimiter.prune(now));

  let loopbackOnly = isLoopbackBind(resolved.host);
  let draining = false;
  let closing: Promise<void> | undefined;
  let httpServer: Server | undefined;

  const MCP_PATHS = new Set(['/mcp', '/mcp/sse', '/sse', '/messages', '/mcp/stdio']);

  function refuseAuth(res: ServerResponse, presented: boolean): void {
    const challenge = presented
      ? 'Bearer realm="mcp-tether", error="invalid_token"'
      : 'Bearer realm="mcp-tether"';
    sendError(res, presented ? 'TETHER_ERR_AUTH_INVALID' : 'TETHER_ERR_AUTH_REQUIRED', {
      headers: { 'WWW-Authenticate': challenge },
    });
  }

  /** Rate limit for requests that open a session without a body to inspect (legacy SSE, seed endpoint). */
  function admitSession(req: IncomingMessage, res: ServerResponse): boolean {
    const wait = sessionLimiter.take(req.socket.remoteAddress ?? 'unknown');
    if (wait === 0) return true;
    logger.warn({ client_ip: req.socket.remoteAddress, retry_after_s: wait }, 'session.rate_limited');
    sendError(res, 'TETHER_ERR_HTTP_RATE_LIMITED', { headers: { 'Retry-After': String(wait) } });
    return false;
  }

  const atCapacity = () => resolved.maxConnections > 0 && registry.size >= resolved.maxConnections;

  /**
   * Requests that open a new stream and so count against the caps: a GET
   * stream, a new legacy or seed stream, a POST without a session (a new
   * session or a 2026-07-28 request). POSTs inside a session pass, so a
   * client at the cap can still answer pings and finish its work.
   */
  function opensStream(req: IncomingMessage, path: string): boolean {
    if (path === '/mcp')
      return req.method === 'GET' || (req.method === 'POST' && !req.headers['mcp-session-id']);
    if (path === '/sse') return req.method === 'GET';
    if (path === '/mcp/sse') return req.method === 'POST' && !(req.url ?? '').includes('connection_id=');
    return false;
  }

  function admitStream(req: IncomingMessage, res: ServerResponse): boolean {
    const clientIp = req.socket.remoteAddress ?? 'unknown';
    const perClient = resolved.maxConnectionsPerClient;
    const code = atCapacity()
      ? 'TETHER_ERR_HTTP_AT_CAPACITY'
      : perClient > 0 && registry.countByClient(clientIp) >= perClient
        ? 'TETHER_ERR_HTTP_CLIENT_AT_CAPACITY'
        : undefined;
    if (code === undefined) return true;
    logger.warn({ client_ip: clientIp, connections: registry.size, code }, 'connection.refused');
    sendError(res, code, {
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(resolved.retryMs / 1000))) },
    });
    return false;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const path = pathOf(req, resolved.basePath);
    if (!hostAllowed(req, loopbackOnly)) {
      sendError(res, 'TETHER_ERR_HTTP_FORBIDDEN_HOST');
      return true;
    }
    if (!originAllowed(req, resolved.allowedOrigins, loopbackOnly)) {
      sendError(res, 'TETHER_ERR_HTTP_FORBIDDEN_ORIGIN');
      return true;
    }
    if (applyCors(req, res)) return true;
    // The interactive test page (public/): static files, no token needed, nothing secret in them.
    if (isTestPagePath(path)) {
      await serveTestPage(req, res, path);
      return true;
    }
    switch (path) {
      case '/healthz':
        sendJson(res, 200, { status: 'ok' });
        return true;
      case '/readyz': {
        const status = draining ? 'draining' : atCapacity() ? 'at_capacity' : 'ready';
        sendJson(res, status === 'ready' ? 200 : 503, { status });
        return true;
      }
      case '/metrics':
        res.writeHead(200, { 'Content-Type': metrics.contentType }).end(await metrics.text());
        return true;
    }
    if (path === '/mcp/connections' || path.startsWith('/mcp/connections/')) {
      admin(req, res, path.slice('/mcp/connections'.length));
      return true;
    }
    if (!MCP_PATHS.has(path)) return false;
    const auth = tokens.check(req);
    if (!auth.ok) {
      refuseAuth(res, auth.presented);
      return true;
    }
    const { authInfo } = auth;
    if (path === '/mcp/stdio') {
      if (req.method !== 'GET')
        sendError(res, 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED', { headers: { Allow: 'GET' } });
      else sendJson(res, 200, await serverInfo(req));
      return true;
    }
    if (draining) {
      sendError(res, 'TETHER_ERR_HTTP_UNAVAILABLE', { headers: { 'Retry-After': '1' } });
      return true;
    }
    if (opensStream(req, path) && !admitStream(req, res)) return true;
    if (cluster) {
      // Mounted without listen(): join the cluster on the first request.
      try {
        await start();
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'cluster.unavailable');
        sendError(res, 'TETHER_ERR_HTTP_UNAVAILABLE', {
          detail: 'Service unavailable: the shared session store (Redis) is unreachable; retry shortly',
          headers: { 'Retry-After': '1' },
        });
        return true;
      }
    }
    scheduler.start();
    const query = (req.url ?? '').includes('?')
      ? new URL(req.url ?? '/', 'http://x').searchParams
      : undefined;
    switch (path) {
      case '/mcp':
        await streamableHttp(req, res, authInfo);
        break;
      case '/mcp/sse':
        if (req.method === 'POST' && !query?.has('connection_id') && !admitSession(req, res)) break;
        await seedSse.handle(req, res, authInfo);
        break;
      case '/sse':
        if (req.method !== 'GET')
          sendError(res, 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED', { headers: { Allow: 'GET' } });
        else if (admitSession(req, res)) {
          await legacySse.openStream(req, res, `${mountPrefix(req, '/sse')}/messages`, authInfo);
        }
        break;
      default:
        if (req.method === 'POST') await legacySse.postMessage(req, res, authInfo);
        else sendError(res, 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED', { headers: { Allow: 'POST' } });
    }
    return true;
  }

  const handler: Tether['handler'] = (req, res, next) => {
    route(req, res)
      .then((handled) => {
        if (handled) return;
        if (next) next();
        else sendError(res, 'TETHER_ERR_HTTP_NOT_FOUND');
      })
      .catch((err: unknown) => {
        logger.error({ err, method: req.method, url: req.url }, 'request.failed');
        sendError(res, 'TETHER_ERR_INTERNAL');
      });
  };

  /**
   * The drain, in a fixed order: stop accepting (503, readiness off, no new
   * sockets), let in-flight requests finish within the grace period, send
   * every stream its final event with a `retry` hint, end the sessions, then
   * close what is left of the sockets.
   */
  async function doClose(): Promise<void> {
    draining = true;
    scheduler.drain();
    logger.info(
      { connections: registry.size, sessions: sessionCount(), in_flight: requests.active },
      'server.draining',
    );
    const server = httpServer;
    const serverClosed = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    if (!(await requests.idle(resolved.shutdownGraceMs))) {
      logger.warn({ in_flight: requests.active, grace_ms: resolved.shutdownGraceMs }, 'server.grace_expired');
    }
    // Streams first, so each gets its final event with reason `shutdown` before
    // the SDK's per-request exchanges and the sessions are torn down.
    registry.closeAll('shutdown');
    await modern.close();
    await tasks?.close();
    await sessions.closeAll('shutdown');
    scheduler.stop();
    listenBus?.stop();
    await cluster?.close();
    if (server) {
      // Sockets kept alive after their last response become idle only once it
      // is flushed; sweep until the server reports closed, then force the rest.
      const sweep = setInterval(() => server.closeIdleConnections(), 20);
      const force = setTimeout(() => server.closeAllConnections(), 2_000);
      server.closeIdleConnections();
      await serverClosed;
      clearInterval(sweep);
      clearTimeout(force);
    }
    logger.info('server.closed');
  }

  return {
    handler,
    options: resolved,
    logger,
    registry,
    sessions,
    metrics,
    notify: modern.notify,
    nodeId: cluster?.nodeId,
    start,
    async listen(port = resolved.port, host = resolved.host) {
      await start();
      loopbackOnly = isLoopbackBind(host);
      const server = createServer(handler);
      httpServer = server;
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          const address = { host: addr.address, port: addr.port, url: `http://${shown}:${addr.port}` };
          logger.info(address, 'server.listening');
          resolve(address);
        });
      });
    },
    close() {
      closing ??= doClose();
      return closing;
    },
    destroy() {
      draining = true;
      void modern.close();
      void tasks?.close();
      for (const s of [...sessions.values()]) s.transport.closeWith('shutdown');
      void sessions.closeAll('shutdown');
      registry.closeAll('shutdown');
      scheduler.stop();
      httpServer?.closeAllConnections();
      httpServer?.close();
      listenBus?.stop();
      cluster?.destroy();
    },
  };
}
