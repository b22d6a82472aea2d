import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type LoggingMessageNotification,
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
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

let t: TestTether;
let client: Client;
let transport: StreamableHTTPClientTransport;
let logs: LoggingMessageNotification['params'][];
let listChanged: number;

beforeEach(async () => {
  t = await startTether({ setup: fixtureSetup });
  logs = [];
  listChanged = 0;
  client = new Client({ name: 'sdk-v1-client', version: '1.0.0' });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params);
  });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    listChanged++;
  });
  transport = new StreamableHTTPClientTransport(t.mcpUrl);
  await within(client.connect(transport), 5_000, 'v1 connect');
});

afterEach(async () => {
  await client.close().catch(() => {});
  await t.close();
});

const standaloneStreams = () =>
  [...t.tether.registry.values()].filter(
    (c) => c.kind === 'standalone' && c.sessionId === transport.sessionId,
  );

describe('SDK v1 client, SSE response mode (each POST answered on its own SSE stream)', () => {
  it('negotiates 2025-11-25 and gets a session', () => {
    expect(transport.protocolVersion).toBe('2025-11-25');
    expect(transport.sessionId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(t.tether.sessions.get(transport.sessionId!)).toBeDefined();
    expect(client.getServerVersion()).toEqual({
      name: 'mcp-tether',
      version: t.tether.options.serverInfo.version,
    });
    expect(client.getServerCapabilities()).toEqual({
      logging: {},
      tools: { listChanged: true },
      resources: { listChanged: true },
      prompts: { listChanged: true },
    });
  });

  it('lists tools and calls echo and add (structured output)', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(TOOL_NAMES);
    const add = tools.find((tool) => tool.name === 'add');
    expect(add?.outputSchema).toMatchObject({ type: 'object', properties: { sum: { type: 'number' } } });

    expect(await client.callTool({ name: 'echo', arguments: { text: 'héllo 🌍' } })).toEqual({
      content: [{ type: 'text', text: 'héllo 🌍' }],
    });
    expect(await client.callTool({ name: 'add', arguments: { a: 2.5, b: -7 } })).toEqual({
      content: [{ type: 'text', text: '-4.5' }],
      structuredContent: { sum: -4.5 },
    });
  });

  it('reports a tool input error as an isError result', async () => {
    const result = await client.callTool({ name: 'add', arguments: { a: 'one', b: 2 } });
    expect(result.isError).toBe(true);
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
    expect(await client.readResource({ uri: 'info://server' })).toEqual({
      contents: [{ uri: 'info://server', mimeType: 'text/plain', text: INFO_TEXT }],
    });
    expect(await client.readResource({ uri: 'greeting://ada' })).toEqual({
      contents: [{ uri: 'greeting://ada', mimeType: 'text/plain', text: 'Hello, ada!' }],
    });
  });

  it('lists and gets prompts', async () => {
    expect((await client.listPrompts()).prompts).toEqual([
      { name: 'summarize', description: 'Summarize a topic', arguments: [{ name: 'topic', required: true }] },
      { name: 'hello', description: 'Say hello' },
    ]);
    expect(await client.getPrompt({ name: 'summarize', arguments: { topic: 'SSE' } })).toEqual({
      messages: [{ role: 'user', content: { type: 'text', text: 'Summarize SSE briefly.' } }],
    });
    expect(await client.getPrompt({ name: 'hello' })).toEqual({
      messages: [{ role: 'user', content: { type: 'text', text: 'Hello there' } }],
    });
  });

  it('delivers countdown progress notifications in order', async () => {
    const progress: Array<{ progress: number; total?: number; message?: string }> = [];
    const result = await client.callTool({ name: 'countdown', arguments: { seconds: 2 } }, undefined, {
      onprogress: (p) => progress.push(p),
      timeout: 10_000,
    });
    expect(result).toEqual({ content: [{ type: 'text', text: 'Countdown of 2s finished' }] });
    expect(progress).toEqual([
      { progress: 1, total: 2, message: '1s left' },
      { progress: 2, total: 2, message: '0s left' },
    ]);
  });

  it('delivers request-related logging notifications before the result, honouring logging/setLevel', async () => {
    await client.callTool({ name: 'log_twice', arguments: { text: 'a' } });
    expect(logs).toEqual([
      { level: 'info', logger: 'fixture', data: 'first: a' },
      { level: 'warning', logger: 'fixture', data: { second: 'a' } },
    ]);
    logs.length = 0;
    await client.setLoggingLevel('warning');
    await client.callTool({ name: 'log_twice', arguments: { text: 'b' } });
    expect(logs).toEqual([{ level: 'warning', logger: 'fixture', data: { second: 'b' } }]);
  });
});

describe('SDK v1 client, standalone GET stream for server-initiated messages', () => {
  it('opens the standalone GET stream after initialization', async () => {
    await waitFor(() => standaloneStreams().length === 1, 3_000, 'the v1 client GET stream');
    const [stream] = standaloneStreams();
    expect(stream?.transport).toBe('streamable-http');
  });

  it('receives notifications unrelated to any request on the GET stream', async () => {
    await waitFor(() => standaloneStreams().length === 1, 3_000, 'the v1 client GET stream');
    const standalone = standaloneStreams()[0]!;
    const bytesBefore = standalone.bytesWritten;

    const result = await client.callTool({ name: 'announce', arguments: { text: 'deploy done' } });
    expect(result).toEqual({ content: [{ type: 'text', text: 'announced deploy done' }] });
    await waitFor(() => listChanged === 1 && logs.length === 1, 3_000, 'the standalone notifications');
    expect(logs).toEqual([{ level: 'notice', logger: 'announcer', data: 'announce: deploy done' }]);
    // They travelled on the GET stream, not on the POST's response stream.
    expect(standalone.bytesWritten).toBeGreaterThan(bytesBefore);
    expect(standalone.closed).toBe(false);
  });

  it('a second standalone GET for the same session is refused with 409 while the first is open', async () => {
    await waitFor(() => standaloneStreams().length === 1, 3_000, 'the v1 client GET stream');
    const res = await fetch(t.mcpUrl, {
      headers: {
        accept: 'text/event-stream',
        'mcp-session-id': transport.sessionId!,
        'mcp-protocol-version': '2025-11-25',
      },
    });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({
      error: { data: { code: 'TETHER_ERR_SESSION_STREAM_CONFLICT' } },
    });
    expect(standaloneStreams()).toHaveLength(1);
  });

  it('terminateSession (DELETE) ends the session and its GET stream', async () => {
    await waitFor(() => standaloneStreams().length === 1, 3_000, 'the v1 client GET stream');
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    expect(t.tether.sessions.get(sessionId)).toBeUndefined();
    await waitFor(
      () =>
        t
          .logsOf('connection.closed')
          .some((l) => l.session_id === sessionId && l.reason === 'session_deleted'),
      3_000,
      'the GET stream to close with session_deleted',
    );
    expect(t.logsOf('session.closed')).toMatchObject([{ session_id: sessionId, reason: 'session_deleted' }]);
  });
});
