import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FastMCP } from 'fastmcp';
import { z } from 'zod';
import { announce, benchRoute, hold, msFromEnv, portFromEnv } from './common.js';

/**
 * The reference: fastmcp's `httpStream` transport (stateful sessions over the
 * SDK 1.x Streamable HTTP transport, via mcp-proxy) with its defaults, which
 * include a JSON-RPC ping to every session every 5 s. A second port serves
 * the `/__bench/*` debug API.
 */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

const server = new FastMCP({
  name: 'fastmcp-bench',
  version: '1.0.0',
  ping: { intervalMs: msFromEnv('BENCH_PING_INTERVAL_MS', 5_000) },
});
server.addTool({
  name: 'echo',
  description: 'Returns the text it is given.',
  parameters: z.object({ text: z.string() }),
  execute: async ({ text }) => text,
});
server.addTool({
  name: 'hold',
  parameters: z.object({ ms: z.number() }),
  execute: async ({ ms }, ctx) =>
    hold(ms, (ctx as { signal?: AbortSignal }).signal ?? new AbortController().signal, async () =>
      ctx.reportProgress({ progress: 0 }),
    ),
});

const port = portFromEnv() || (await freePort());
await server.start({
  transportType: 'httpStream',
  httpStream: { port, host: '127.0.0.1', endpoint: '/mcp' },
});

let added = 0;
const control = createServer((req, res) => {
  benchRoute(req, res, {
    sessions: () => server.sessions.length,
    streams: () => -1,
    notify() {
      // fastmcp's public way to announce a list change: adding a tool notifies every session.
      added++;
      server.addTool({ name: `extra_${added}`, execute: async () => 'x' });
    },
  });
});
control.listen(0, '127.0.0.1', () => announce(port, (control.address() as AddressInfo).port));
