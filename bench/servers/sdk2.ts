import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from '@modelcontextprotocol/node';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { announce, benchRoute, hold, msFromEnv, portFromEnv, released } from './common.js';

/** The bench-only `hold` tool's schema, built once so it adds nothing to what a session costs. */
const HOLD_INPUT = z.object({ ms: z.number() });

/**
 * The reference: the official SDK v2 (`@modelcontextprotocol/server`) as its
 * README wires it: `createMcpHandler` (a fresh `McpServer` per request; serves
 * 2026-07-28 and, statelessly, 2025-era traffic) mounted on `node:http` with
 * `@modelcontextprotocol/node`'s `toNodeHandler`. Idle streams are
 * 2026-07-28 `subscriptions/listen` streams; its own SSE keepalive runs at
 * `BENCH_PING_INTERVAL_MS` (its default, 15 s, otherwise). Its listen cap is
 * raised from the default 1,024 so 10,000 streams can open.
 */
function buildServer(): McpServer {
  const server = new McpServer({ name: 'sdk2-bench', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Returns the text it is given.', inputSchema: z.object({ text: z.string() }) },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
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
  return server;
}

// maxSubscriptions: the SDK refuses listen streams past 1,024 by default; the bench opens 10,000.
const handler = createMcpHandler(() => buildServer(), {
  keepAliveMs: msFromEnv('BENCH_PING_INTERVAL_MS', 15_000),
  maxSubscriptions: 1_000_000,
});
const serve = toNodeHandler(handler);
let listening = 0;

const http = createServer((req, res) => {
  const hooks = { sessions: () => 0, streams: () => listening, notify: () => handler.notify.toolsChanged() };
  if (benchRoute(req, res, hooks)) return;
  if (req.headers['mcp-method'] === 'subscriptions/listen') {
    listening++;
    res.on('close', () => {
      listening--;
      released();
    });
  }
  serve(req, res).catch((err: unknown) => {
    if (!res.headersSent) res.writeHead(500).end(String(err));
  });
});
http.listen(portFromEnv(), '127.0.0.1', () => announce((http.address() as AddressInfo).port));
