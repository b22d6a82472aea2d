/**
 * n8n's MCP Client nodes, reproduced with the SDK they ship (1.26.0, aliased
 * as `sdk-1-26`) and the options they pass: a bearer header on every
 * request, the SSE transport's `eventSourceInit.fetch` that re-adds
 * `Accept` (so the header goes out duplicated), recursive `tools/list`
 * paging, extra arguments such as `toolCallId` in `tools/call`, and a
 * client that is closed at the end of an execution without ever sending
 * DELETE.
 */
import { Client } from 'sdk-1-26/client/index.js';
import { SSEClientTransport } from 'sdk-1-26/client/sse.js';
import { StreamableHTTPClientTransport } from 'sdk-1-26/client/streamableHttp.js';
import { CompatibilityCallToolResultSchema } from 'sdk-1-26/types.js';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { tetherPerTest } from '../support/tether.js';

const N8N_HEADERS = { Authorization: 'Bearer n8n-credential-token' };
const N8N_CLIENT = { name: '@n8n/n8n-nodes-langchain.mcpClientTool', version: '1' };

const { start, defer } = tetherPerTest();

/** One HTTP request as n8n's client sent it. */
interface Sent {
  method: string;
  path: string;
  rpc: string | undefined;
  status: number;
  accept: string | null;
  authorization: string | null;
}

/**
 * A fetch that records what goes out and what comes back. It calls `fetch`
 * with the caller's own `init`: a `Request` built here would carry a copy of
 * the abort signal that undici only follows weakly, so a client's later
 * abort could be lost once that copy is garbage-collected.
 */
function recordingFetch(sent: Sent[]): typeof fetch {
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    let rpc: string | undefined;
    if (typeof init?.body === 'string') rpc = (JSON.parse(init.body) as { method?: string }).method;
    const response = await fetch(input, init);
    sent.push({
      method: init?.method ?? 'GET',
      path: new URL(url).pathname,
      rpc,
      status: response.status,
      accept: headers.get('accept'),
      authorization: headers.get('authorization'),
    });
    return response;
  };
}

function headersToRecord(
  headers: ConstructorParameters<typeof Headers>[0] | undefined,
): Record<string, string> {
  return headers ? Object.fromEntries(new Headers(headers).entries()) : {};
}

/** n8n's `getAllTools`: follows `nextCursor` until the server stops sending one. */
async function getAllTools(client: Client, cursor?: string): Promise<Array<{ name: string }>> {
  const { tools, nextCursor } = await client.listTools({ cursor });
  const page: Array<{ name: string }> = tools;
  if (nextCursor) return page.concat(await getAllTools(client, nextCursor));
  return page;
}

/** The tool call as n8n's agent tool makes it: the model's arguments plus its own `toolCallId`. */
async function callEcho(client: Client, text: string) {
  return client.callTool(
    { name: 'echo', arguments: { text, toolCallId: 'call_8Jx2' } },
    CompatibilityCallToolResultSchema,
    { timeout: 10_000 },
  );
}

async function connectStreamable(url: URL, sent: Sent[]): Promise<Client> {
  const client = new Client(N8N_CLIENT, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(url, {
    requestInit: { headers: N8N_HEADERS },
    fetch: recordingFetch(sent),
  });
  await client.connect(transport);
  defer(() => client.close().catch(() => {}));
  return client;
}

async function connectSse(url: URL, sent: Sent[]): Promise<Client> {
  const client = new Client(N8N_CLIENT, { capabilities: {} });
  const record = recordingFetch(sent);
  const transport = new SSEClientTransport(url, {
    eventSourceInit: {
      fetch: (input, init) =>
        record(input, {
          ...init,
          headers: { ...headersToRecord(init?.headers), Accept: 'text/event-stream' },
        }),
    },
    requestInit: { headers: N8N_HEADERS },
    fetch: record,
  });
  await client.connect(transport);
  defer(() => client.close().catch(() => {}));
  return client;
}

describe('n8n MCP Client over Streamable HTTP (SDK 1.26.0)', () => {
  it('initializes, opens the GET stream, pages tools/list, calls echo with toolCallId, and never DELETEs', async () => {
    const tt = await start();
    const sent: Sent[] = [];
    const client = await connectStreamable(tt.mcpUrl, sent);
    await waitFor(() => sent.some((s) => s.method === 'GET'), 5_000, 'the GET stream');

    const tools = await getAllTools(client);
    expect(tools.map((x) => x.name)).toEqual(['echo', 'add', 'server_time', 'countdown']);
    const result = await callEcho(client, 'from n8n');
    expect(result.content).toEqual([{ type: 'text', text: 'from n8n' }]);
    expect(result.isError).toBeFalsy();

    const [session] = [...tt.tether.sessions.values()];
    expect(tt.tether.sessions.size).toBe(1);
    const standalone = [...tt.tether.registry.values()].filter((c) => c.kind === 'standalone');
    expect(standalone.map((c) => c.sessionId)).toEqual([session?.id]);

    await client.close();
    const traffic = sent.map((s) => `${s.method} ${s.rpc ?? ''} ${s.status}`.replace('  ', ' '));
    expect(traffic).toEqual([
      'POST initialize 200',
      'POST notifications/initialized 202',
      'GET 200',
      'POST tools/list 200',
      'POST tools/call 200',
    ]);
    expect(sent.every((s) => s.path === '/mcp')).toBe(true);
    expect(sent.every((s) => s.authorization === N8N_HEADERS.Authorization)).toBe(true);
    // The dropped GET stream is released; the 2025-era session waits for its idle TTL.
    await waitFor(() => tt.tether.registry.size === 0, 5_000, 'GET stream released');
    expect(tt.tether.sessions.size).toBe(1);
  });

  it('frees sessions abandoned without DELETE after the idle TTL, but not one whose client is still connected', async () => {
    const idleTimeoutMs = 500;
    const tt = await start({ idleTimeoutMs, pingIntervalMs: 100 });
    // Three workflow executions, each with its own client, each closed without DELETE.
    for (let run = 0; run < 3; run++) {
      const sent: Sent[] = [];
      const client = await connectStreamable(tt.mcpUrl, sent);
      expect((await callEcho(client, `run ${run}`)).content).toEqual([{ type: 'text', text: `run ${run}` }]);
      await client.close();
      expect(sent.some((s) => s.method === 'DELETE')).toBe(false);
    }
    const live = await connectStreamable(tt.mcpUrl, []);
    const liveId = [...tt.tether.sessions.values()].at(-1)?.id;
    expect(tt.tether.sessions.size).toBe(4);

    await waitFor(
      () => tt.logsOf('session.closed').length === 3,
      5 * idleTimeoutMs,
      'abandoned sessions freed',
    );
    const closed = tt.logsOf('session.closed');
    expect(closed.every((l) => l.reason === 'idle_timeout')).toBe(true);
    expect(closed.map((l) => l.session_id)).not.toContain(liveId);
    // Twice the TTL later the connected client's session is still there and works.
    await new Promise((r) => setTimeout(r, 2 * idleTimeoutMs));
    expect([...tt.tether.sessions.values()].map((s) => s.id)).toEqual([liveId]);
    expect((await callEcho(live, 'still here')).content).toEqual([{ type: 'text', text: 'still here' }]);

    await live.close();
    await waitFor(() => tt.tether.sessions.size === 0, 5 * idleTimeoutMs, 'last session freed after close');
    expect(tt.logsOf('session.closed').at(-1)).toMatchObject({ session_id: liveId, reason: 'idle_timeout' });
  });
});

describe('n8n MCP Client over SSE (SDK 1.26.0)', () => {
  it('connects with a duplicated Accept header and a bearer token, pages tools, calls echo with toolCallId', async () => {
    const tt = await start();
    const sent: Sent[] = [];
    const client = await connectSse(new URL(`${tt.url}/sse`), sent);

    const get = sent.find((s) => s.method === 'GET');
    expect(get).toMatchObject({
      path: '/sse',
      status: 200,
      accept: 'text/event-stream, text/event-stream',
      authorization: N8N_HEADERS.Authorization,
    });

    const tools = await getAllTools(client);
    expect(tools.map((x) => x.name)).toEqual(['echo', 'add', 'server_time', 'countdown']);
    const result = await callEcho(client, 'from n8n over sse');
    expect(result.content).toEqual([{ type: 'text', text: 'from n8n over sse' }]);

    const posts = sent.filter((s) => s.method === 'POST');
    expect(posts.map((s) => `${s.rpc} ${s.status}`)).toEqual([
      'initialize 202',
      'notifications/initialized 202',
      'tools/list 202',
      'tools/call 202',
    ]);
    expect(posts.every((s) => s.path === '/messages' && s.authorization === N8N_HEADERS.Authorization)).toBe(
      true,
    );

    const [connection] = [...tt.tether.registry.values()];
    expect(connection?.transport).toBe('http-sse');
    await client.close();
    await waitFor(() => tt.tether.registry.size === 0, 5_000, 'legacy stream released');
    expect(tt.logsOf('connection.closed')).toEqual([
      expect.objectContaining({ transport: 'http-sse', reason: 'client_disconnect' }),
    ]);
    const late = await fetch(`${tt.url}/messages?sessionId=${connection?.sessionId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...N8N_HEADERS },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' }),
    });
    expect(late.status).toBe(404);
  });

  it('answers the liveness pings on an idle SSE stream, so a waiting workflow is not cut off', async () => {
    const tt = await start({ pingIntervalMs: 100, maxPingFailures: 2 });
    const sent: Sent[] = [];
    const client = await connectSse(new URL(`${tt.url}/sse`), sent);
    const [connection] = [...tt.tether.registry.values()];
    await waitFor(() => (connection?.pingsSent ?? 0) >= 6, 5_000, 'six liveness pings');
    expect(tt.logsOf('connection.closed')).toEqual([]);
    // The replies went back the way n8n sends everything: POST /messages with its bearer header.
    const replies = sent.filter((s) => s.method === 'POST' && s.rpc === undefined);
    expect(replies.length).toBeGreaterThanOrEqual(5);
    expect(replies.every((s) => s.status === 202 && s.authorization === N8N_HEADERS.Authorization)).toBe(
      true,
    );
    expect((await callEcho(client, 'after idling')).content).toEqual([
      { type: 'text', text: 'after idling' },
    ]);
  });
});

describe('n8n MCP Client with access control on (SDK 1.26.0)', () => {
  it('calls echo over both transports with its bearer credential, and is refused without the right one', async () => {
    const server = await start({ authTokens: ['n8n-credential-token'] });
    const sent: Sent[] = [];
    const streamable = await connectStreamable(server.mcpUrl, sent);
    expect((await callEcho(streamable, 'via streamable')).content).toEqual([
      { type: 'text', text: 'via streamable' },
    ]);
    const sse = await connectSse(new URL(`${server.url}/sse`), sent);
    expect((await callEcho(sse, 'via sse')).content).toEqual([{ type: 'text', text: 'via sse' }]);
    expect(sent.every((s) => s.authorization === N8N_HEADERS.Authorization)).toBe(true);
    expect(sent.some((s) => s.status === 401)).toBe(false);

    const intruder = new Client(N8N_CLIENT, { capabilities: {} });
    const wrong = new StreamableHTTPClientTransport(server.mcpUrl, {
      requestInit: { headers: { Authorization: 'Bearer not-the-n8n-credential' } },
    });
    await expect(intruder.connect(wrong)).rejects.toThrow();
    expect(server.tether.sessions.size).toBe(1);
  });
});
