import type { IncomingMessage } from 'node:http';
import type { Route } from '../http/router.js';
import { isTestPagePath, serveTestPage } from '../http/static.js';

/**
 * The path prefix in front of `route` as the client sees it: Express strips
 * its mount path from `req.url` but keeps it in `originalUrl`.
 */
export function mountPrefix(req: IncomingMessage, route: string): string {
  const full = ((req as { originalUrl?: string }).originalUrl ?? req.url ?? '').split('?')[0] ?? '';
  return full.endsWith(route) ? full.slice(0, full.length - route.length) : '';
}

/** What the route table calls into: the transports, the admin API and the server's own answers. */
export interface RouteHandlers {
  streamableHttp: Route['handle'];
  sseStream: Route['handle'];
  sseMessage: Route['handle'];
  seed: Route['handle'];
  describe: Route['handle'];
  admin: Route['handle'];
  health: Route['handle'];
  ready: Route['handle'];
  metrics: Route['handle'];
}

/**
 * Every endpoint mcp-tether serves, below `basePath`. The router, the
 * connection caps and `GET /mcp/stdio`'s endpoint list read this table; a
 * new endpoint is a new row (docs/architecture.md, "Adding an endpoint").
 */
export function routeTable(h: RouteHandlers): Route[] {
  return [
    {
      path: '/mcp',
      methods: ['GET', 'POST', 'DELETE'],
      access: 'token',
      mcp: true,
      // A POST's admission needs its body (a new session, a 2026-07-28 request): the handler decides.
      opensStream: ({ req }) => req.method === 'GET',
      endpoints: [
        {
          method: 'POST',
          path: '/mcp',
          purpose: 'Streamable HTTP: JSON-RPC requests (every revision; initialize opens a 2025-era session)',
        },
        {
          method: 'GET',
          path: '/mcp',
          purpose: 'Streamable HTTP: standalone SSE stream of a session, or resumption with Last-Event-ID',
        },
        { method: 'DELETE', path: '/mcp', purpose: 'Streamable HTTP: end a session' },
      ],
      handle: h.streamableHttp,
    },
    {
      path: '/sse',
      methods: ['GET'],
      access: 'token',
      mcp: true,
      opensStream: ({ req }) => req.method === 'GET',
      opensSession: () => true,
      endpoints: [{ method: 'GET', path: '/sse', purpose: 'HTTP+SSE (2024-11-05): open a session stream' }],
      handle: h.sseStream,
    },
    {
      path: '/messages',
      methods: ['POST'],
      access: 'token',
      mcp: true,
      endpoints: [
        {
          method: 'POST',
          path: '/messages?sessionId=<id>',
          purpose: 'HTTP+SSE: send a message to a session',
        },
      ],
      handle: h.sseMessage,
    },
    {
      path: '/mcp/sse',
      methods: ['POST'],
      access: 'token',
      mcp: true,
      opensStream: ({ req, query }) => req.method === 'POST' && !query.has('connection_id'),
      opensSession: ({ query }) => !query.has('connection_id'),
      endpoints: [
        {
          method: 'POST',
          path: '/mcp/sse',
          purpose: 'streaming endpoint: welcome, response/error and ping events',
        },
        {
          method: 'POST',
          path: '/mcp/sse?connection_id=<id>',
          purpose: 'streaming endpoint: follow-up request on an open stream',
        },
      ],
      handle: h.seed,
    },
    {
      path: '/mcp/stdio',
      methods: ['GET'],
      access: 'token',
      endpoints: [{ method: 'GET', path: '/mcp/stdio', purpose: 'this server description' }],
      handle: h.describe,
    },
    {
      path: '/healthz',
      access: 'public',
      endpoints: [{ method: 'GET', path: '/healthz', purpose: 'liveness' }],
      handle: h.health,
    },
    {
      path: '/readyz',
      access: 'public',
      endpoints: [
        {
          method: 'GET',
          path: '/readyz',
          purpose: 'readiness (503 while draining or at the connection cap)',
        },
      ],
      handle: h.ready,
    },
    {
      path: '/metrics',
      access: 'public',
      endpoints: [{ method: 'GET', path: '/metrics', purpose: 'Prometheus metrics' }],
      handle: h.metrics,
    },
    {
      path: '/mcp/connections',
      match: (path) => path.startsWith('/mcp/connections/'),
      access: 'admin',
      endpoints: [
        {
          method: 'GET',
          path: '/mcp/connections',
          purpose: 'admin: live connections (needs the admin token)',
        },
        {
          method: 'DELETE',
          path: '/mcp/connections/<id>',
          purpose: 'admin: close one connection with reason manual',
        },
      ],
      handle: h.admin,
    },
    {
      // The interactive test page (public/): static files, no token needed, nothing secret in them.
      path: '/sse-test.html',
      match: isTestPagePath,
      access: 'public',
      endpoints: [],
      handle: ({ req, res, path }) => serveTestPage(req, res, path),
    },
  ];
}
