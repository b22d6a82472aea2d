/**
 * Several nodes sharing one real redis-server (started here on a free port,
 * stopped by PID) behave as one server: a session created on one node is
 * served by all, a stream's messages reach whichever node holds its
 * connection, a broken stream resumes on any node, and `subscriptions/listen`
 * events fan out to every node.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { deleteSession, getSse, initSession, post, postSse, readUntil, rpc } from '../support/rpc.js';
import type { SseMessage } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';
import { hasRedis, REDIS_BIN, type RunningRedis, startRedis } from './support/redis.js';
import { clusterSetup } from './support/tools.js';

if (!hasRedis())
  console.warn(`redis-server not found at ${REDIS_BIN}: skipping the cluster suite (CI installs it)`);

describe.skipIf(!hasRedis())('cluster (Redis)', () => {
  let redis: RunningRedis;
  let nodes: TestTether[] = [];
  let A: TestTether;
  let B: TestTether;
  let C: TestTether;

  beforeAll(async () => {
    redis = await startRedis();
    nodes = await Promise.all(
      [0, 1, 2].map(() =>
        startTether({ redisUrl: redis.url, setup: clusterSetup, logLevel: 'info', pingIntervalMs: 60_000 }),
      ),
    );
    [A, B, C] = nodes as [TestTether, TestTether, TestTether];
  });

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis?.stop();
  });

  it('serves a session created on A from B and C, with the stream on A', async () => {
    const sid = await initSession(A.mcpUrl);
    const standalone = await getSse(A.mcpUrl, sid);
    // Requests to B and C: each answer comes back on that POST's own stream.
    const onB = await postSse(
      B.mcpUrl,
      sid,
      rpc(1, 'tools/call', { name: 'add', arguments: { a: 2, b: 3 } }),
    );
    const onC = await postSse(
      C.mcpUrl,
      sid,
      rpc(2, 'tools/call', { name: 'echo', arguments: { text: 'hi C' } }),
    );
    const resB = await readUntil(onB, (m) => m.message.id === 1);
    const resC = await readUntil(onC, (m) => m.message.id === 2);
    expect(resB.at(-1)?.message.result).toMatchObject({ structuredContent: { sum: 5 } });
    expect(JSON.stringify(resC.at(-1)?.message.result)).toContain('hi C');
    expect(B.logsOf('session.rehydrated')).toHaveLength(1);
    expect(C.logsOf('session.rehydrated')).toHaveLength(1);
    standalone.abort();
  });

  it('routes standalone notifications from B and C to the GET stream on A, in order', async () => {
    const sid = await initSession(A.mcpUrl);
    const standalone = await getSse(A.mcpUrl, sid);
    const received: SseMessage[] = [];
    const reading = (async () => {
      try {
        for (;;) {
          const frame = await standalone.reader.next(20_000);
          if (frame === undefined) return;
          if (frame.data) received.push({ id: frame.id, message: JSON.parse(frame.data) });
        }
      } catch {
        // aborted
      }
    })();
    for (const [i, node] of [B, C, B, C].entries()) {
      const s = await postSse(node.mcpUrl, sid, rpc(i, 'tools/call', { name: 'announce', arguments: {} }));
      await readUntil(s, (m) => m.message.id === i);
    }
    await waitFor(() => received.length === 4, 5_000, 'four notifications on A');
    expect(received.map((m) => m.message.method)).toEqual(Array(4).fill('notifications/tools/list_changed'));
    const ids = received.map((m) => m.id);
    expect(new Set(ids).size).toBe(4);
    standalone.abort();
    await reading;
  });

  it('resumes a countdown started on B whose stream was cut, on A: every remaining event and the result, none twice', async () => {
    const sid = await initSession(A.mcpUrl);
    const call = await postSse(
      B.mcpUrl,
      sid,
      rpc(7, 'tools/call', { name: 'countdown', arguments: { seconds: 4 }, _meta: { progressToken: 'p' } }),
    );
    const before = await readUntil(call, (m) => m.message.method === 'notifications/progress');
    const last = before.at(-1)!;
    expect(last.message.params?.progress).toBe(1);
    call.abort();
    const resumed = await getSse(A.mcpUrl, sid, last.id);
    const after = await readUntil(resumed, (m) => m.message.id === 7, 15_000);
    const progress = after
      .filter((m) => m.message.method === 'notifications/progress')
      .map((m) => m.message.params?.progress);
    expect(progress).toEqual([2, 3, 4]);
    expect(after.at(-1)?.message.result).toBeDefined();
    const ids = after.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    // The stream ends once the request is answered.
    expect(await resumed.reader.next(5_000)).toBeUndefined();
  });

  it('routes elicitation/create from B to the GET stream on A, and the answer POSTed to C back to B', async () => {
    const sid = await initSession(A.mcpUrl, { capabilities: { elicitation: {} } });
    // The SDK sends elicitation/create on the standalone stream, held here by A.
    const standalone = await getSse(A.mcpUrl, sid);
    const onB = await postSse(B.mcpUrl, sid, rpc(3, 'tools/call', { name: 'confirm', arguments: {} }));
    const [ask] = (await readUntil(standalone, (m) => m.message.method === 'elicitation/create')).slice(-1);
    standalone.abort();
    expect(String(ask?.message.id)).toMatch(new RegExp(`^${B.tether.nodeId}~`));
    const answer = await fetch(C.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sid,
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: ask?.message.id,
        result: { action: 'accept', content: { ok: true } },
      }),
    });
    expect(answer.status).toBe(202);
    const done = await readUntil(onB, (m) => m.message.id === 3);
    expect(JSON.stringify(done.at(-1)?.message.result)).toContain('accept: {\\"ok\\":true}');
  });

  it('cancels a call running on B when notifications/cancelled is POSTed to C', async () => {
    const sid = await initSession(A.mcpUrl);
    const onB = await postSse(
      B.mcpUrl,
      sid,
      rpc(4, 'tools/call', { name: 'countdown', arguments: { seconds: 20 }, _meta: { progressToken: 'c' } }),
    );
    await readUntil(onB, (m) => m.message.method === 'notifications/progress');
    const cancel = await fetch(C.mcpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sid,
        'mcp-protocol-version': '2025-11-25',
      },
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4 } }),
    });
    expect(cancel.status).toBe(202);
    // The request gets no response (the spec's cancellation) and its stream ends.
    const rest = await readUntil(onB, () => false, 5_000);
    expect(rest.some((m) => m.message.id === 4)).toBe(false);
    expect(B.tether.sessions.get(sid)?.pendingRequests).toBe(0);
  });

  it('fans out a subscriptions/listen notification published on C to listeners on A and B', async () => {
    const clients: Client[] = [];
    const seen: string[] = [];
    for (const [name, node] of [
      ['a', A],
      ['b', B],
    ] as const) {
      const client = new Client(
        { name: `listen-${name}`, version: '1' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } } },
      );
      await client.connect(new StreamableHTTPClientTransport(node.mcpUrl));
      client.setNotificationHandler('notifications/tools/list_changed', () => {
        seen.push(name);
      });
      await client.listen({ toolsListChanged: true });
      clients.push(client);
    }
    const listens = (n: TestTether) =>
      [...n.tether.registry.values()].filter((c) => c.kind === 'listen').length;
    await waitFor(() => listens(A) === 1 && listens(B) === 1, 5_000, 'listen streams on A and B');
    C.tether.notify.toolsChanged();
    await waitFor(() => seen.length === 2, 5_000, 'both listeners notified');
    expect(seen.sort()).toEqual(['a', 'b']);
    for (const c of clients) await c.close();
  });

  it('passes a change published on C to a 2025-era GET stream on A once, though B holds the session too', async () => {
    const sid = await initSession(A.mcpUrl);
    await readUntil(await postSse(B.mcpUrl, sid, rpc(1, 'tools/list')), (m) => m.message.id === 1);
    expect(B.tether.sessions.get(sid)).toBeDefined();
    const standalone = await getSse(A.mcpUrl, sid);
    await waitFor(
      () => [...A.tether.registry.values()].some((c) => c.kind === 'standalone' && c.sessionId === sid),
      5_000,
      'GET stream on A',
    );
    C.tether.notify.toolsChanged();
    C.tether.notify.promptsChanged();
    // The prompts change marks the end: a duplicate tools change would arrive before it.
    const frames = await readUntil(
      standalone,
      (m) => m.message.method === 'notifications/prompts/list_changed',
    );
    standalone.abort();
    expect(frames.map((m) => m.message.method)).toEqual([
      'notifications/tools/list_changed',
      'notifications/prompts/list_changed',
    ]);
    expect(frames.every((m) => m.id !== undefined)).toBe(true);
  });

  it('serves the official SDK client across nodes and ends the session everywhere on DELETE', async () => {
    const sid = await initSession(A.mcpUrl);
    await readUntil(await postSse(B.mcpUrl, sid, rpc(1, 'tools/list')), (m) => m.message.id === 1);
    expect(B.tether.sessions.get(sid)).toBeDefined();
    const del = await deleteSession(C.mcpUrl, sid);
    expect(del.status).toBe(200);
    await waitFor(() => A.tether.sessions.get(sid) === undefined && B.tether.sessions.get(sid) === undefined);
    const after = await post(A.mcpUrl, rpc(2, 'tools/list'), { 'mcp-session-id': sid });
    expect(after.status).toBe(404);
  });

  it('forgets the stream records of a deleted session in Redis, not only its events', async () => {
    const sid = await initSession(A.mcpUrl);
    await readUntil(await postSse(B.mcpUrl, sid, rpc(1, 'tools/list')), (m) => m.message.id === 1);
    const client = new Redis(redis.url);
    try {
      /** Stream records (hashes `tether:stream:<id>`) that name the session. */
      const recorded = async () => {
        let n = 0;
        for (const key of await client.keys('tether:stream:*')) {
          if (!key.endsWith(':pending') && (await client.hget(key, 'session')) === sid) n++;
        }
        return n;
      };
      expect(await recorded()).toBe(2); // the initialize's stream (on A) and the tools/list's (on B)
      expect((await deleteSession(C.mcpUrl, sid)).status).toBe(200);
      const deadline = Date.now() + 5_000;
      while ((await recorded()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await recorded()).toBe(0);
    } finally {
      client.disconnect();
    }
  });

  it('counts sessions per node and across the cluster', async () => {
    const text = await (await fetch(`${A.url}/metrics`)).text();
    expect(text).toMatch(/mcp_tether_cluster_sessions \d+/);
    expect(text).toMatch(/mcp_tether_redis_up 1/);
  });
});
