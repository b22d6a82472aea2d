import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { SUBSCRIPTION_ID_META_KEY } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { startTether, type TestTether } from '../support/tether.js';

let t: TestTether | undefined;
const clients: Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await t?.close();
  t = undefined;
});

async function modernClient(url: URL): Promise<Client> {
  const client = new Client(
    { name: 'listen-test', version: '1' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } } },
  );
  await client.connect(new StreamableHTTPClientTransport(url));
  clients.push(client);
  return client;
}

describe('2026-07-28 subscriptions/listen', () => {
  it('holds a registered stream and delivers tether.notify events to every listener', async () => {
    t = await startTether();
    const a = await modernClient(t.mcpUrl);
    const b = await modernClient(t.mcpUrl);
    const seen: string[] = [];
    a.setNotificationHandler('notifications/tools/list_changed', () => {
      seen.push('a');
    });
    b.setNotificationHandler('notifications/tools/list_changed', () => {
      seen.push('b');
    });
    const subA = await a.listen({ toolsListChanged: true });
    const subB = await b.listen({ toolsListChanged: true });
    expect(subA.honoredFilter.toolsListChanged).toBe(true);

    const listens = () => [...t!.tether.registry.values()].filter((c) => c.kind === 'listen');
    await waitFor(() => listens().length === 2, 5_000, 'two listen streams in the registry');

    t.tether.notify.toolsChanged();
    await waitFor(() => seen.length === 2, 5_000, 'both listeners notified');
    expect(seen.sort()).toEqual(['a', 'b']);

    await subA.close();
    await waitFor(() => listens().length === 1, 5_000, 'closed subscription released');
    const closed = t.logsOf('connection.closed').filter((l) => l.stream === 'listen');
    expect(closed).toHaveLength(1);
    expect(closed[0]?.reason).toBe('client_disconnect');
    await subB.close();
  });

  it('gets an SSE comment keepalive on an idle listen stream', async () => {
    t = await startTether({ pingIntervalMs: 100 });
    const client = await modernClient(t.mcpUrl);
    const sub = await client.listen({ toolsListChanged: true });
    const listen = () => [...t!.tether.registry.values()].find((c) => c.kind === 'listen');
    await waitFor(() => (listen()?.pingsSent ?? 0) >= 2, 5_000, 'two keepalives on the listen stream');
    await sub.close();
  });

  it('serves a listen stream from the bus after the acknowledgement: only what the filter asked for, stamped with its subscription', async () => {
    t = await startTether();
    const client = await modernClient(t.mcpUrl);
    const tools: unknown[] = [];
    let prompts = 0;
    client.setNotificationHandler('notifications/tools/list_changed', (n) => {
      tools.push(n.params);
    });
    client.setNotificationHandler('notifications/prompts/list_changed', () => {
      prompts++;
    });
    const sub = await client.listen({ toolsListChanged: true });
    const listens = () => [...t!.tether.registry.values()].filter((c) => c.kind === 'listen');
    await waitFor(() => listens().length === 1, 5_000, 'listen stream');

    t.tether.notify.promptsChanged();
    t.tether.notify.toolsChanged();
    t.tether.notify.toolsChanged();
    await waitFor(() => tools.length === 2, 5_000, 'two tools changes');
    expect(prompts).toBe(0);
    for (const params of tools) {
      expect((params as { _meta?: Record<string, unknown> })._meta?.[SUBSCRIPTION_ID_META_KEY]).toBeDefined();
    }

    await sub.close();
    await waitFor(() => listens().length === 0, 5_000, 'stream released');
    // A change after the stream is gone goes nowhere and breaks nothing: a round trip later
    // the client has still heard only the two.
    t.tether.notify.toolsChanged();
    await client.listTools();
    expect(tools).toHaveLength(2);
  });
});
