import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { type McpServerOptions, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/server';
import { RedisRouting } from '../cluster/redis-routing.js';
import { resolveOptions } from '../config/options.js';
import { KeepaliveScheduler } from '../connection/keepalive-scheduler.js';
import { ConnectionRegistry, DEFAULT_CLOSE_GRACE_MS } from '../connection/registry.js';
import { registerDemoTools } from '../demo/demo-tools.js';
import { sendError } from '../errors.js';
import { createAdminApi } from '../http/admin.js';
import { Admission } from '../http/admission.js';
import { TokenAuth } from '../http/auth.js';
import { createRouter } from '../http/router.js';
import { isLoopbackBind } from '../http/security.js';
import { applySocketLimits, connectionsCheckingIntervalMs } from '../http/socket-limits.js';
import { createLogger } from '../observability/logger.js';
import { createMetrics } from '../observability/metrics.js';
import { meteringHook, RequestTracker } from '../pipeline/metering.js';
import { PipelinedServer } from '../pipeline/server.js';
import { TaskRuntime } from '../tasks/runtime.js';
import { createHttpSse } from '../transport/http-sse.js';
import { introspect } from '../transport/introspect.js';
import { createSeedSse } from '../transport/seed-sse.js';
import { RequestAdmission } from '../transport/shared/admission.js';
import { createStreamableHttpHandler } from '../transport/streamable-http/handler.js';
import { createModernEndpoint } from '../transport/streamable-http/modern.js';
import { StreamableHttpSessions } from '../transport/streamable-http/sessions.js';
import { createBackends } from './backends.js';
import { registerInternals } from './internals.js';
import { Lifecycle } from './lifecycle.js';
import { mountPrefix, routeTable } from './routes.js';
import { sessionsView } from './sessions-view.js';
import type { CreateTetherOptions, SetupContext, SetupFn, Tether } from './types.js';

/** Revisions of the stateless era served on `/mcp` alongside the 2025-era ones. */
const MODERN_PROTOCOL_VERSIONS = ['2026-07-28'];

const { version: PACKAGE_VERSION } = createRequire(import.meta.url)('../../package.json') as {
  version: string;
};

function sendJson(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Builds an mcp-tether instance: the `/mcp` endpoint (every protocol
 * revision), HTTP+SSE, the streaming endpoint, the connection registry,
 * one keepalive scheduler, and health endpoints. Composition only: what each
 * part does lives in its module (docs/architecture.md).
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
  const backends = createBackends(resolved, logger, metrics, options);
  const { cluster } = backends;
  const tasks = options.tasks === false ? undefined : new TaskRuntime({ logger, ...options.tasks });

  const metering = meteringHook(requests, ({ sessionId, requestId, method }) =>
    logger.info({ session_id: sessionId ?? null, request_id: requestId, method }, 'request.cancelled'),
  );
  /**
   * Builds a server for one session or request. Its pipeline, from the wire
   * inwards: the request meter (unless it is built for introspection), then
   * on 2026-07-28 the tasks extension (advertises it, installs tasks/get,
   * tasks/update and tasks/cancel, lets `registerTaskTool` reach the task
   * store) and, added by the modern endpoint, the change bridge.
   */
  const buildServer = async (era: SetupContext['era'], metered = true): Promise<PipelinedServer> => {
    const server = new PipelinedServer({ ...resolved.serverInfo }, serverOptions);
    if (metered) server.use(metering);
    if (era === 'modern') tasks?.attach(server);
    await setup(server, { era });
    return server;
  };

  const admission = new Admission(registry, logger, resolved);
  const requestAdmission = new RequestAdmission({
    limits: resolved,
    inFlight: () => requests.active,
    refused: (reason, count) => metrics.requestsRefused(reason, count),
  });
  const sessions = new StreamableHttpSessions({
    registry,
    eventStore: backends.eventStore,
    sessionStore: backends.sessionStore,
    logger,
    retryMs: resolved.retryMs,
    idleTimeoutMs: resolved.idleTimeoutMs,
    hibernateAfterMs: resolved.hibernateAfterMs,
    createServer: () => buildServer('legacy'),
    changes: backends.changes,
    onReplayed: (count) => metrics.eventsReplayed(count),
    router: cluster ? new RedisRouting(cluster) : undefined,
  });
  scheduler.onTick((now) => sessions.sweep(now));
  scheduler.onTick((now) => {
    tasks?.sweep(now).catch((err: unknown) => logger.warn({ err }, 'tasks.sweep_failed'));
  });
  scheduler.onTick((now) => admission.prune(now));
  const modern = createModernEndpoint({
    registry,
    logger,
    maxBodyBytes: resolved.maxBodyBytes,
    maxSubscriptions: resolved.maxConnections > 0 ? resolved.maxConnections : Number.MAX_SAFE_INTEGER,
    createServer: () => buildServer('modern'),
    bus: backends.changes,
  });
  const streamableHttp = createStreamableHttpHandler({
    sessions,
    modern,
    logger,
    maxBodyBytes: resolved.maxBodyBytes,
    maxInitializeParamsBytes: resolved.maxInitializeParamsBytes,
    admission: requestAdmission,
    admitSession: (req, res) => admission.admitSession(req, res),
    admitStream: (req, res) => admission.admitStream(req, res),
    ...(cluster ? { clusterHealthy: () => cluster.healthy } : {}),
  });
  const streamDeps = {
    registry,
    logger,
    maxBodyBytes: resolved.maxBodyBytes,
    admission: requestAdmission,
    createServer: () => buildServer('legacy'),
  };
  const httpSse = createHttpSse(streamDeps);
  const seedSse = createSeedSse({ ...streamDeps, retryMs: resolved.retryMs });
  sessionCount = () => sessions.size + httpSse.size + seedSse.size;
  hibernatingCount = () => sessions.hibernating;

  let loopbackOnly = isLoopbackBind(resolved.host);
  let httpServer: Server | undefined;
  const lifecycle = new Lifecycle({
    logger,
    registry,
    scheduler,
    requests,
    shutdownGraceMs: resolved.shutdownGraceMs,
    sessionCount: () => sessionCount(),
    httpServer: () => httpServer,
    async closeServing() {
      await modern.close();
      await tasks?.close();
      await sessions.closeAll('shutdown');
    },
    destroyServing() {
      void modern.close();
      void tasks?.close();
      sessions.destroyAll();
    },
    closeBackends: () => backends.close(),
    destroyBackends: () => backends.destroy(),
  });

  const admin = createAdminApi(registry, resolved.adminToken);
  const routes = routeTable({
    streamableHttp: ({ req, res, authInfo }) => streamableHttp(req, res, authInfo),
    sseStream: ({ req, res, authInfo }) =>
      httpSse.openStream(req, res, `${mountPrefix(req, '/sse')}/messages`, authInfo),
    sseMessage: ({ req, res, query, authInfo }) => httpSse.postMessage(req, res, query, authInfo),
    seed: ({ req, res, query, authInfo }) => seedSse.handle(req, res, query, authInfo),
    async describe({ req, res }) {
      const surface = await introspect(await buildServer('legacy', false));
      const prefix = mountPrefix(req, '/mcp/stdio');
      sendJson(res, 200, {
        name: resolved.serverInfo.name,
        version: resolved.serverInfo.version,
        protocolVersions: [
          ...MODERN_PROTOCOL_VERSIONS,
          ...SUPPORTED_PROTOCOL_VERSIONS.filter((v) => v >= '2024-11-05'),
        ],
        capabilities: surface.capabilities,
        tools: surface.tools,
        endpoints: routes.flatMap((r) => r.endpoints.map((e) => ({ ...e, path: prefix + e.path }))),
      });
    },
    admin: ({ req, res, path }) => admin(req, res, path.slice('/mcp/connections'.length)),
    health: ({ res }) => sendJson(res, 200, { status: 'ok' }),
    ready({ res }) {
      const status = lifecycle.draining ? 'draining' : admission.atCapacity ? 'at_capacity' : 'ready';
      sendJson(res, status === 'ready' ? 200 : 503, { status });
    },
    async metrics({ res }) {
      res.writeHead(200, { 'Content-Type': metrics.contentType }).end(await metrics.text());
    },
  });
  const handler = createRouter({
    routes,
    basePath: resolved.basePath,
    allowedOrigins: resolved.allowedOrigins,
    loopbackOnly: () => loopbackOnly,
    tokens: new TokenAuth(resolved.authTokens),
    admission,
    draining: () => lifecycle.draining,
    async prepareMcp(res) {
      if (cluster) {
        // Mounted without listen(): join the cluster on the first request.
        try {
          await backends.start();
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'cluster.unavailable');
          sendError(res, 'TETHER_ERR_HTTP_UNAVAILABLE', {
            detail: 'Service unavailable: the shared session store (Redis) is unreachable; retry shortly',
            headers: { 'Retry-After': '1' },
          });
          return false;
        }
      }
      scheduler.start();
      return true;
    },
    logger,
  });

  const tether: Tether = {
    handler,
    options: resolved,
    logger,
    registry,
    sessions: sessionsView(sessions),
    metrics,
    notify: modern.notify,
    nodeId: cluster?.nodeId,
    start: () => backends.start(),
    async listen(port = resolved.port, host = resolved.host) {
      await backends.start();
      loopbackOnly = isLoopbackBind(host);
      const server = createServer(
        { connectionsCheckingInterval: connectionsCheckingIntervalMs(resolved) },
        handler,
      );
      applySocketLimits(server, resolved, logger);
      httpServer = server;
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          const address = { host: addr.address, port: addr.port, url: `http://${shown}:${addr.port}` };
          logger.info(address, 'server.listening');
          if (!loopbackOnly && resolved.authTokens.length === 0) {
            // Off loopback the Host check is off and a same-origin request passes, so a page on a
            // rebound DNS name could drive this server; only a token stops it.
            logger.warn(
              {
                host: addr.address,
                fix: 'set --auth-token (authTokens), or bind 127.0.0.1 behind a proxy that checks Host',
              },
              'server.unprotected_bind',
            );
          }
          resolve(address);
        });
      });
    },
    close: () => lifecycle.close(),
    destroy: () => lifecycle.destroy(),
  };
  registerInternals(tether, { sessions });
  return tether;
}
