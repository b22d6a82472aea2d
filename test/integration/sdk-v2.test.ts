import {
  Client,
  LOG_LEVEL_META_KEY,
  type LoggingMessageNotification,
  SERVER_INFO_META_KEY,
  StreamableHTTPClientTransport,
} from '@modelcontextprotocol/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { startTether, type TestTether } from '../support/tether.js';
import { fixtureSetup, INFO_TEXT, within } from './fixtures.js';

const TOOL_NAMES = [
  'echo',
  'add',
  'server_time',
  'countdown',
  'log_twice',
  'announce',
  'ask_model',
  'confirm',
];

type Era = 'legacy' | 'modern';

const ERAS: Array<{ era: Era; version: string }> = [
  { era: 'legacy', version: '2025-11-25' },
  { era: 'modern', version: '2026-07-28' },
];

/** Drops the per-result `_meta` the 2026-07-28 era adds (server info) and cache hints, to compare payloads across eras. */
function payload<T extends object>(result: T): Omit<T, '_meta' | 'ttlMs' | 'cacheScope'> {
  const { _meta, ttlMs, cacheScope, ...rest } = result as T & {
    _meta?: unknown;
    ttlMs?: unknown;
    cacheScope?: unknown;
  };
  return rest;
}

describe.each(ERAS)('SDK v2 client, $era era ($version)', ({ era, version }) => {
  let t: TestTether;
  let client: Client;
  let transport: StreamableHTTPClientTransport;
  let logs: LoggingMessageNotification['params'][];

  beforeEach(async () => {
    t = await startTether({ setup: fixtureSetup });
    logs = [];
    client = new Client(
      { name: `sdk-v2-${era}`, version: '1.0.0' },
      { versionNegotiation: { mode: era === 'legacy' ? 'legacy' : { pin: '2026-07-28' } } },
    );
    client.setNotificationHandler('notifications/message', (n) => {
      logs.push(n.params);
    });
    transport = new StreamableHTTPClientTransport(t.mcpUrl);
    await within(client.connect(transport), 5_000, `v2 ${era} connect`);
  });

  afterEach(async () => {
    await client.close().catch(() => {});
    await t.close();
  });

  it('negotiates the era it asked for', () => {
    expect(transport.protocolVersion).toBe(version);
    expect(client.getServerVersion()).toEqual({
      name: 'mcp-tether',
      version: t.tether.options.serverInfo.version,
    });
    if (era === 'legacy') {
      expect(transport.sessionId).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(t.tether.sessions.size).toBe(1);
    } else {
      // 2026-07-28 is stateless: no session is created.
      expect(transport.sessionId).toBeUndefined();
      expect(t.tether.sessions.size).toBe(0);
      expect(t.logsOf('session.created')).toEqual([]);
    }
  });

  it('lists tools and calls echo and add (structured output)', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(TOOL_NAMES);
    const echo = await client.callTool({ name: 'echo', arguments: { text: `hi from ${era}` } });
    expect(payload(echo)).toEqual({ content: [{ type: 'text', text: `hi from ${era}` }] });
    const add = await client.callTool({ name: 'add', arguments: { a: 40, b: 2 } });
    expect(payload(add)).toEqual({ content: [{ type: 'text', text: '42' }], structuredContent: { sum: 42 } });
    if (era === 'modern') {
      expect(add._meta).toEqual({
        [SERVER_INFO_META_KEY]: { name: 'mcp-tether', version: t.tether.options.serverInfo.version },
      });
    }
  });

  it('lists and reads resources and resource templates', async () => {
    expect((await client.listResources()).resources).toEqual([
      {
        name: 'info',
        title: 'Server info',
        uri: 'info://server',
        description: 'A static text resource',
        mimeType: 'text/plain',
      },
    ]);
    expect((await client.listResourceTemplates()).resourceTemplates).toEqual([
      {
        name: 'greeting',
        title: 'Greeting',
        uriTemplate: 'greeting://{name}',
        description: 'A greeting for a name',
        mimeType: 'text/plain',
      },
    ]);
    expect(payload(await client.readResource({ uri: 'info://server' }))).toEqual({
      contents: [{ uri: 'info://server', mimeType: 'text/plain', text: INFO_TEXT }],
    });
    expect(payload(await client.readResource({ uri: 'greeting://grace' }))).toEqual({
      contents: [{ uri: 'greeting://grace', mimeType: 'text/plain', text: 'Hello, grace!' }],
    });
  });

  it('lists and gets prompts', async () => {
    expect((await client.listPrompts()).prompts).toEqual([
      { name: 'summarize', description: 'Summarize a topic', arguments: [{ name: 'topic', required: true }] },
      { name: 'hello', description: 'Say hello' },
    ]);
    expect(payload(await client.getPrompt({ name: 'summarize', arguments: { topic: era } }))).toEqual({
      messages: [{ role: 'user', content: { type: 'text', text: `Summarize ${era} briefly.` } }],
    });
  });

  it('delivers countdown progress notifications in order', async () => {
    const progress: Array<{ progress: number; total?: number; message?: string }> = [];
    const result = await client.callTool(
      { name: 'countdown', arguments: { seconds: 2 } },
      { onprogress: (p) => progress.push(p), timeout: 10_000 },
    );
    expect(payload(result)).toEqual({ content: [{ type: 'text', text: 'Countdown of 2s finished' }] });
    expect(progress).toEqual([
      { progress: 1, total: 2, message: '1s left' },
      { progress: 2, total: 2, message: '0s left' },
    ]);
    // Every response stream of the call is released once it completes.
    await waitFor(
      () => [...t.tether.registry.values()].every((c) => c.kind !== 'response'),
      2_000,
      'response streams to close',
    );
  });

  it('delivers logging notifications tied to the request', async () => {
    // 2025 era: on by default (no level set). 2026-07-28: opt in per request with the log-level envelope key.
    const _meta = era === 'modern' ? { [LOG_LEVEL_META_KEY]: 'info' } : undefined;
    await client.callTool({ name: 'log_twice', arguments: { text: 'x' }, ...(_meta ? { _meta } : {}) });
    expect(logs).toEqual([
      { level: 'info', logger: 'fixture', data: 'first: x' },
      { level: 'warning', logger: 'fixture', data: { second: 'x' } },
    ]);
  });

  if (era === 'modern') {
    it('sends no logging notifications without the log-level envelope key', async () => {
      await client.callTool({ name: 'log_twice', arguments: { text: 'quiet' } });
      expect(logs).toEqual([]);
    });

    it('delivers list-changed notifications on a subscriptions/listen stream (tether.notify)', async () => {
      let changed = 0;
      client.setNotificationHandler('notifications/tools/list_changed', () => {
        changed++;
      });
      const subscription = await within(client.listen({ toolsListChanged: true }), 5_000, 'listen ack');
      try {
        expect(subscription.honoredFilter).toEqual({ toolsListChanged: true });
        await waitFor(
          () => [...t.tether.registry.values()].some((c) => c.kind === 'listen'),
          2_000,
          'the listen stream to be registered',
        );
        t.tether.notify.toolsChanged();
        await waitFor(() => changed === 1, 3_000, 'notifications/tools/list_changed');
      } finally {
        await subscription.close();
      }
      await waitFor(
        () => [...t.tether.registry.values()].every((c) => c.kind !== 'listen'),
        3_000,
        'the listen stream to close after the subscription is closed',
      );
    });

    it('a list change sent by a tool during its call reaches the subscriptions/listen stream', async () => {
      let changed = 0;
      client.setNotificationHandler('notifications/tools/list_changed', () => {
        changed++;
      });
      const subscription = await within(client.listen({ toolsListChanged: true }), 5_000, 'listen ack');
      try {
        const result = await client.callTool({ name: 'announce', arguments: { text: 'modern' } });
        expect(payload(result)).toEqual({ content: [{ type: 'text', text: 'announced modern' }] });
        await waitFor(() => changed === 1, 3_000, 'notifications/tools/list_changed');
        // 2026-07-28 has no channel for a log message unrelated to a request: it is not delivered.
        expect(logs).toEqual([]);
      } finally {
        await subscription.close();
      }
    });
  } else {
    it('receives server-initiated notifications on its standalone GET stream', async () => {
      let changed = 0;
      client.setNotificationHandler('notifications/tools/list_changed', () => {
        changed++;
      });
      await waitFor(
        () => [...t.tether.registry.values()].some((c) => c.kind === 'standalone'),
        3_000,
        'the v2 client GET stream',
      );
      await client.callTool({ name: 'announce', arguments: { text: 'v2' } });
      await waitFor(() => changed === 1 && logs.length === 1, 3_000, 'standalone notifications');
      expect(logs).toEqual([{ level: 'notice', logger: 'announcer', data: 'announce: v2' }]);
    });
  }
});
