import { Client as ClientV2, StreamableHTTPClientTransport as HttpV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer, Protocol, Server } from '@modelcontextprotocol/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDemoTools } from '../../src/demo/demo-tools.js';
import { registerTaskTool } from '../../src/index.js';
import { internalsOf } from '../../src/server/internals.js';
import { waitFor } from '../support/process.js';
import { startTether, type TestTether } from '../support/tether.js';

/**
 * Behaviour around the SDK is added by composition (the pipeline wrapping
 * each transport), never by replacing methods on the SDK's objects: after
 * traffic on every transport and protocol era, the SDK's prototypes are as
 * imported and no server instance carries a method of its own.
 */

type Methods = Map<string, unknown>;

function methodsOf(prototype: object): Methods {
  const methods: Methods = new Map();
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
    if (descriptor && typeof descriptor.value === 'function') methods.set(name, descriptor.value);
  }
  return methods;
}

/** Every method name along an object's prototype chain up to Object.prototype. */
function chainMethodNames(instance: object): Set<string> {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(instance); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of methodsOf(p).keys()) if (name !== 'constructor') names.add(name);
  }
  return names;
}

/** Own properties of `instance` that shadow a method of its class with a function. */
function shadowedMethods(instance: object): string[] {
  const names = chainMethodNames(instance);
  return Object.getOwnPropertyNames(instance).filter(
    (name) => names.has(name) && typeof (instance as Record<string, unknown>)[name] === 'function',
  );
}

const PROTOTYPES = { McpServer: McpServer.prototype, Server: Server.prototype, Protocol: Protocol.prototype };
const before = Object.fromEntries(Object.entries(PROTOTYPES).map(([k, p]) => [k, methodsOf(p)]));

let t: TestTether;
const built: McpServer[] = [];

beforeAll(async () => {
  t = await startTether({
    hibernateAfterMs: 0,
    setup(server, { era }) {
      built.push(server);
      registerDemoTools(server);
      if (era === 'modern')
        registerTaskTool(server, 'slow_task', { description: 'a task tool' }, async () => ({
          content: [{ type: 'text', text: 'done' }],
        }));
    },
  });
});
afterAll(async () => {
  await t?.close();
});

describe('the SDK is extended by composition only', () => {
  it('leaves prototypes and instances untouched after traffic on every transport', async () => {
    // 2025-era session (lobby initialize, then a server of its own), with a call and a cancel.
    const v1 = new Client({ name: 'integrity-v1', version: '1' });
    const http = new StreamableHTTPClientTransport(t.mcpUrl);
    await v1.connect(http);
    await v1.callTool({ name: 'echo', arguments: { text: 'a' } });
    const aborter = new AbortController();
    const cancelled = v1
      .callTool({ name: 'countdown', arguments: { seconds: 5 } }, undefined, { signal: aborter.signal })
      .catch(() => 'cancelled');
    await waitFor(() => t.tether.registry.size >= 1);
    aborter.abort();
    expect(await cancelled).toBe('cancelled');

    // 2026-07-28 requests (tasks extension and change bridge on the pipeline).
    const v2 = new ClientV2(
      { name: 'integrity-v2', version: '1' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    await v2.connect(new HttpV2(t.mcpUrl));
    await v2.callTool({ name: 'echo', arguments: { text: 'b' } });
    await v2.callTool({ name: 'slow_task', arguments: {} });

    // HTTP+SSE.
    const legacy = new Client({ name: 'integrity-sse', version: '1' });
    await legacy.connect(new SSEClientTransport(new URL(`${t.url}/sse`)));
    await legacy.callTool({ name: 'echo', arguments: { text: 'c' } });

    // The streaming endpoint, with its own handshake.
    const seed = await fetch(`${t.url}/mcp/sse`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: 'd' } },
      }),
    });
    const reader = seed.body!.getReader();
    let text = '';
    while (!text.includes('event: response')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();

    await v1.close();
    await v2.close();
    await legacy.close();

    for (const [name, prototype] of Object.entries(PROTOTYPES)) {
      expect(methodsOf(prototype), `${name}.prototype`).toEqual(before[name]);
    }
    expect(built.length).toBeGreaterThanOrEqual(5);
    for (const server of built) {
      expect(shadowedMethods(server), 'McpServer instance').toEqual([]);
      expect(shadowedMethods(server.server), 'Server instance').toEqual([]);
    }
    for (const session of internalsOf(t.tether).sessions.values()) {
      expect(shadowedMethods(session.transport), 'session transport').toEqual([]);
    }
  });
});
