import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Client as V2Client,
  StreamableHTTPClientTransport as V2Transport,
} from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type CreateTetherOptions, createTether, type Tether } from '../../src/index.js';
import { post, rpc } from '../support/rpc.js';
import { within } from './fixtures.js';

const quiet: CreateTetherOptions = { logLevel: 'silent' };
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** Mounts with `mount`, listens on 127.0.0.1:0 with the app's own server, returns the base URL. */
async function listenExpress(app: express.Express, tether: Tether): Promise<string> {
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  cleanups.push(async () => {
    await tether.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function listenFastify(app: FastifyInstance, tether: Tether): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(async () => {
    await tether.close();
    app.server.closeAllConnections();
    await app.close();
  });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

/** Calls `echo` with the v1 client and the v2 client in both eras; returns the texts. */
async function echoWithEveryClient(mcpUrl: URL, text: string): Promise<string[]> {
  const texts: string[] = [];
  const v1 = new V1Client({ name: 'mount-v1', version: '1.0.0' });
  try {
    await within(v1.connect(new V1Transport(mcpUrl)), 5_000, 'v1 connect');
    const r = await within(
      v1.callTool({ name: 'echo', arguments: { text: `${text}/v1` } }),
      5_000,
      'v1 echo',
    );
    texts.push(...(r.content as Array<{ text: string }>).map((c) => c.text));
  } finally {
    await v1.close();
  }
  for (const mode of ['legacy', { pin: '2026-07-28' }] as const) {
    const v2 = new V2Client({ name: 'mount-v2', version: '1.0.0' }, { versionNegotiation: { mode } });
    try {
      await within(v2.connect(new V2Transport(mcpUrl)), 5_000, 'v2 connect');
      const era = typeof mode === 'string' ? mode : mode.pin;
      const r = await within(
        v2.callTool({ name: 'echo', arguments: { text: `${text}/${era}` } }),
        5_000,
        'v2 echo',
      );
      texts.push(...(r.content as Array<{ text: string }>).map((c) => c.text));
    } finally {
      await v2.close();
    }
  }
  return texts;
}

const expectedEchoes = (text: string) => [`${text}/v1`, `${text}/legacy`, `${text}/2026-07-28`];

describe('mounted in an Express 5 app', () => {
  it("app.use('/tools', tether.handler) serves /tools/mcp; other routes stay the app's", async () => {
    const tether = createTether(quiet);
    const app = express();
    app.get('/', (_req, res) => {
      res.send('the app');
    });
    app.use('/tools', tether.handler);
    app.use((_req, res) => {
      res.status(404).send('app 404');
    });
    const base = await listenExpress(app, tether);

    expect(await echoWithEveryClient(new URL(`${base}/tools/mcp`), 'express')).toEqual(
      expectedEchoes('express'),
    );
    expect(await (await fetch(`${base}/`)).text()).toBe('the app');
    // Paths the tether does not serve fall through to the app's next handler.
    const other = await fetch(`${base}/tools/nothing-here`);
    expect(other.status).toBe(404);
    expect(await other.text()).toBe('app 404');
    // Health endpoints live under the mount point too.
    expect(await (await fetch(`${base}/tools/healthz`)).json()).toEqual({ status: 'ok' });
  });

  it('works behind express.json(): the parsed req.body is used instead of hanging on the consumed stream', async () => {
    const tether = createTether(quiet);
    const app = express();
    app.use(express.json());
    app.use('/tools', tether.handler);
    const base = await listenExpress(app, tether);
    expect(await echoWithEveryClient(new URL(`${base}/tools/mcp`), 'parsed')).toEqual(
      expectedEchoes('parsed'),
    );
  });
});

describe('mounted in a Fastify 5 app', () => {
  it("route '/tools/*' with reply.hijack() and basePath '/tools', body stream left to mcp-tether", async () => {
    const tether = createTether({ ...quiet, basePath: '/tools' });
    const app = Fastify();
    await app.register(async (scope) => {
      // Leave the body stream unread so mcp-tether reads (and limits) it itself.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_req, _payload, done) => done(null));
      scope.all('/tools/*', (req, reply) => {
        reply.hijack();
        tether.handler(req.raw, reply.raw);
      });
    });
    app.get('/', async () => 'the app');
    const base = await listenFastify(app, tether);

    expect(await echoWithEveryClient(new URL(`${base}/tools/mcp`), 'fastify')).toEqual(
      expectedEchoes('fastify'),
    );
    expect(await (await fetch(`${base}/`)).text()).toBe('the app');
  });

  it("with Fastify's own JSON parser, handing over the parsed body as req.raw.body", async () => {
    const tether = createTether({ ...quiet, basePath: '/tools' });
    const app = Fastify();
    app.all('/tools/*', (req, reply) => {
      reply.hijack();
      tether.handler(Object.assign(req.raw, { body: req.body }), reply.raw);
    });
    const base = await listenFastify(app, tether);
    expect(await echoWithEveryClient(new URL(`${base}/tools/mcp`), 'handoff')).toEqual(
      expectedEchoes('handoff'),
    );
  });

  it('a body consumed by the framework and not handed over is a prompt 500, never a hung request', async () => {
    const tether = createTether({ ...quiet, basePath: '/tools' });
    const app = Fastify();
    app.all('/tools/*', (req, reply) => {
      reply.hijack();
      tether.handler(req.raw, reply.raw);
    });
    const base = await listenFastify(app, tether);
    const res = await within(
      post(
        new URL(`${base}/tools/mcp`),
        rpc(1, 'initialize', {
          protocolVersion: '2025-11-25',
          capabilities: {},
          clientInfo: { name: 'x', version: '1' },
        }),
      ),
      3_000,
      'the answer to a POST whose body Fastify consumed',
    );
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error: { code: number; message: string; data: unknown } };
    expect(body.error.code).toBe(-32603);
    expect(body.error.data).toEqual({ code: 'TETHER_ERR_HTTP_BODY_CONSUMED' });
    expect(body.error.message).toContain('read by another middleware');
    expect(tether.sessions.size).toBe(0);
  });
});
