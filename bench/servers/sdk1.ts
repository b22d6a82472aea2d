import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { announce, benchRoute, hold, portFromEnv, released } from './common.js';

/** The bench-only `hold` tool's schema, built once so it adds nothing to what a session costs. */
const HOLD_INPUT = { ms: z.number() };

/**
 * The reference: the official SDK 1.x (`@modelcontextprotocol/sdk`) as its
 * README wires it on `node:http`. `McpServer` + `StreamableHTTPServerTransport`
 * on `/mcp`, stateful (a session id per `initialize`), replies as SSE or, with
 * `BENCH_JSON=1`, as JSON (`enableJsonResponse`); and the deprecated
 * `SSEServerTransport` on `GET /sse` + `POST /messages`.
 */
const enableJsonResponse = process.env.BENCH_JSON === '1';

function buildServer(): McpServer {
  const server = new McpServer({ name: 'sdk1-bench', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Returns the text it is given.', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  server.registerTool('hold', { inputSchema: HOLD_INPUT }, async ({ ms }, extra) => {
    const token = extra._meta?.progressToken;
    const progress =
      token === undefined
        ? undefined
        : () =>
            extra.sendNotification({
              method: 'notifications/progress',
              params: { progressToken: token, progress: 0 },
            });
    return { content: [{ type: 'text', text: await hold(ms, extra.signal, progress) }] };
  });
  return server;
}

const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: McpServer }>();
const sseSessions = new Map<string, { transport: SSEServerTransport; server: McpServer }>();
let openStreams = 0;

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString()));
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

function trackStream(res: ServerResponse): void {
  openStreams++;
  res.on('close', () => {
    openStreams--;
    released();
  });
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
}

async function handleMcp(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const sid = req.headers['mcp-session-id'];
  const existing = typeof sid === 'string' ? sessions.get(sid) : undefined;
  if (req.method === 'POST') {
    const body = await readJson(req);
    if (existing) return existing.transport.handleRequest(req, res, body);
    if (sid !== undefined || !isInitializeRequest(body)) return reply(res, 400, 'no valid session');
    const server = buildServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    return transport.handleRequest(req, res, body);
  }
  if (!existing) return reply(res, 400, 'no valid session');
  if (req.method === 'GET') trackStream(res);
  return existing.transport.handleRequest(req, res);
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (
    benchRoute(req, res, {
      sessions: () => sessions.size + sseSessions.size,
      streams: () => openStreams,
      async notify() {
        const all = [...sessions.values(), ...sseSessions.values()];
        await Promise.all(all.map((s) => s.server.sendToolListChanged()));
      },
    })
  )
    return;
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/mcp') return handleMcp(req, res);
  if (path === '/sse' && req.method === 'GET') {
    const transport = new SSEServerTransport('/messages', res);
    const server = buildServer();
    sseSessions.set(transport.sessionId, { transport, server });
    trackStream(res);
    res.on('close', () => sseSessions.delete(transport.sessionId));
    await server.connect(transport);
    return;
  }
  if (path === '/messages' && req.method === 'POST') {
    const id = new URL(req.url ?? '/', 'http://x').searchParams.get('sessionId') ?? '';
    const session = sseSessions.get(id);
    if (!session) return reply(res, 404, 'unknown session');
    return session.transport.handlePostMessage(req, res, await readJson(req));
  }
  reply(res, 404, 'not found');
}

const http = createServer((req, res) => {
  route(req, res).catch((err: unknown) => {
    if (!res.headersSent) reply(res, 500, String(err));
  });
});
http.listen(portFromEnv(), '127.0.0.1', () => announce((http.address() as AddressInfo).port));
