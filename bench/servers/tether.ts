import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type * as TetherModule from '../../src/index.js';
import { internalsOf } from '../../src/server/internals.js';
import { announce, benchRoute, hold, msFromEnv, portFromEnv, released } from './common.js';

/** The bench-only `hold` tool's schema, built once so it adds nothing to what a session costs. */
const HOLD_INPUT = z.object({ ms: z.number() });

/**
 * mcp-tether through its library API, as `mcp-tether serve` runs it, from a
 * build of this checkout (`BENCH_TETHER_DIST`, made by the runner). It logs at
 * its default level (`info`, JSON) to stdout, which the runner discards; the
 * bench needs no connection cap, so `maxConnections` is 0. A second port
 * serves the `/__bench/*` debug API, so the tether server itself is untouched.
 */
const dist = process.env.BENCH_TETHER_DIST;
if (dist === undefined) throw new Error('BENCH_TETHER_DIST is not set');
const { createTether, registerDemoTools } = (await import(pathToFileURL(dist).href)) as typeof TetherModule;

const tether = createTether({
  host: '127.0.0.1',
  port: portFromEnv(),
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'info',
  logFormat: 'json',
  maxConnections: 0,
  adminToken: 'bench-admin-token-0000',
  pingIntervalMs: msFromEnv('BENCH_PING_INTERVAL_MS', 15_000),
  idleTimeoutMs: msFromEnv('BENCH_IDLE_TIMEOUT_MS', 30 * 60_000),
  setup(server) {
    registerDemoTools(server);
    server.registerTool('hold', { inputSchema: HOLD_INPUT }, async ({ ms }, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      const progress =
        token === undefined
          ? undefined
          : () =>
              ctx.mcpReq.notify({
                method: 'notifications/progress',
                params: { progressToken: token, progress: 0 },
              });
      return { content: [{ type: 'text', text: await hold(ms, ctx.mcpReq.signal, progress) }] };
    });
  },
});

// Releases the runner times: every stream the registry drops, except a
// request's own response stream finishing normally.
tether.registry.listen({
  closed(_connection, reason) {
    if (reason !== 'completed') released();
  },
});

const { port } = await tether.listen();

const control = createServer((req, res) => {
  benchRoute(req, res, {
    sessions: () => tether.sessions.size,
    streams: () => tether.registry.size,
    async notify() {
      // One server-wide change: 2026-07-28 listen streams and 2025-era sessions' GET streams alike.
      tether.notify.toolsChanged();
    },
    settle() {
      // What the scheduler's sweep does once --hibernate-after (default 60 s) has passed, without
      // waiting for it: a sweep dated an hour ahead. Every bench session holds its GET stream, so
      // the idle TTL (30 min here) frees none of them.
      internalsOf(tether).sessions.sweep(Date.now() + 60 * 60_000);
      return tether.sessions.hibernating;
    },
  });
});
control.listen(0, '127.0.0.1', () => announce(port, (control.address() as AddressInfo).port));
