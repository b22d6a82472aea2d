import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type CreateTetherOptions, createTether, type SetupFn } from '../../src/index.js';
import { startTether, type TestTether } from '../support/tether.js';
import { holdSetup } from './support/tools.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

let t: TestTether | undefined;
const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  await t?.close();
  t = undefined;
});

interface ServerDescription {
  name: string;
  version: string;
  protocolVersions: string[];
  capabilities: Record<string, unknown>;
  tools: string[];
  endpoints: Array<{ method: string; path: string; purpose: string }>;
}

async function describeServer(options: CreateTetherOptions = {}): Promise<ServerDescription> {
  t = await startTether(options);
  const res = await fetch(`${t.url}/mcp/stdio`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  return (await res.json()) as ServerDescription;
}

describe('GET /mcp/stdio', () => {
  it('describes the default server: name, version, revisions, capabilities, endpoints, demo tools', async () => {
    const info = await describeServer();
    expect(info.name).toBe('mcp-tether');
    expect(info.version).toBe(version);
    expect(info.protocolVersions).toEqual(
      expect.arrayContaining(['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']),
    );
    expect(info.capabilities).toMatchObject({ tools: {} });
    expect(info.tools).toEqual(['echo', 'add', 'server_time', 'countdown']);

    for (const e of info.endpoints) {
      expect(['GET', 'POST', 'DELETE']).toContain(e.method);
      expect(e.path.startsWith('/')).toBe(true);
      expect(e.purpose.length).toBeGreaterThan(5);
    }
    const routes = info.endpoints.map((e) => `${e.method} ${e.path}`);
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /mcp',
        'GET /mcp',
        'DELETE /mcp',
        'GET /sse',
        'POST /messages?sessionId=<id>',
        'POST /mcp/sse',
        'POST /mcp/sse?connection_id=<id>',
        'GET /mcp/stdio',
      ]),
    );
  });

  it('lists what a custom setup registers, under its own server name', async () => {
    const setup: SetupFn = (server) => {
      server.registerTool('alpha', { inputSchema: z.object({ x: z.string() }) }, async ({ x }) => ({
        content: [{ type: 'text', text: x }],
      }));
      server.registerTool('beta', { description: 'no input' }, async () => ({ content: [] }));
      server.registerResource('readme', 'doc://readme', { mimeType: 'text/plain' }, async (uri) => ({
        contents: [{ uri: uri.href, text: 'hi' }],
      }));
      server.registerPrompt('greet', { description: 'Greets' }, () => ({ messages: [] }));
    };
    const info = await describeServer({ setup, serverInfo: { name: 'acme-tools', version: '9.9.9' } });
    expect(info).toMatchObject({ name: 'acme-tools', version: '9.9.9', tools: ['alpha', 'beta'] });
    expect(Object.keys(info.capabilities)).toEqual(expect.arrayContaining(['tools', 'resources', 'prompts']));
  });

  it('lists every tool of a large setup and none of an empty one', async () => {
    const names = Array.from({ length: 120 }, (_, i) => `tool_${String(i).padStart(3, '0')}`);
    const many = await describeServer({
      setup: (server) => {
        for (const name of names) server.registerTool(name, {}, async () => ({ content: [] }));
      },
    });
    expect(many.tools).toEqual(names);
    await t?.close();

    const empty = await describeServer({ setup: () => {} });
    expect(empty.tools).toEqual([]);
    expect(empty.capabilities.tools).toBeUndefined();
  });

  it('builds a throwaway server for the answer and keeps nothing open', async () => {
    const { setup, record } = holdSetup();
    await describeServer({ setup });
    expect(record.servers).toHaveLength(1);
    expect(record.servers[0]!.isConnected()).toBe(false);
    expect(t!.tether.registry.size).toBe(0);
  });

  it('answers other methods with 405 and a throwing setup with 500, and keeps serving', async () => {
    let fail = true;
    t = await startTether({
      setup: (server) => {
        if (fail) throw new Error('setup exploded');
        holdSetup().setup(server, { era: 'legacy' });
      },
    });
    const post = await fetch(`${t.url}/mcp/stdio`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    const broken = await fetch(`${t.url}/mcp/stdio`);
    expect(broken.status).toBe(500);
    expect(await broken.json()).toMatchObject({ error: { code: -32603 } });
    fail = false;
    const ok = await fetch(`${t.url}/mcp/stdio`);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as ServerDescription).tools).toContain('hold');
  });

  it('gives the paths as the client sees them when mounted under Express', async () => {
    const tether = createTether({ logLevel: 'silent' });
    const app = express();
    app.use('/tools', tether.handler);
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    cleanups.push(async () => {
      await tether.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/tools/mcp/stdio`);
    const info = (await res.json()) as ServerDescription;
    expect(info.endpoints.every((e) => e.path.startsWith('/tools/'))).toBe(true);
    expect(info.endpoints.map((e) => e.path)).toContain('/tools/mcp/sse');
    expect(info.endpoints.map((e) => e.path)).toContain('/tools/messages?sessionId=<id>');
  });
});
