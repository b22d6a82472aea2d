/**
 * Failures across a cluster: a node killed with SIGKILL (a child process)
 * while it holds a client's GET stream and while it runs a call, Redis
 * unreachable at start (the CLI exits 2), and Redis restarted under running
 * nodes.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, freePort, killAll, spawnNode, waitFor } from '../support/process.js';
import { getSse, initSession, type OpenSse, post, postSse, readUntil, rpc } from '../support/rpc.js';
import type { SseMessage } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';
import { hasRedis, pauseRedis, type RunningRedis, startRedis } from './support/redis.js';
import { clusterSetup } from './support/tools.js';

interface ChildNode {
  child: Child;
  url: string;
}

/** `mcp-tether serve` in a child process (so it can be SIGKILLed), once it logs server.listening. */
async function startNode(args: string[]): Promise<ChildNode> {
  const child = spawnNode(['src/cli/bin.ts', 'serve', '--port', '0', '--log-format', 'json', ...args], {
    tsx: true,
    env: { NO_COLOR: '1' },
  });
  const line = await child.line((l) => l.includes('"server.listening"'), 20_000, 'server.listening');
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

async function kill(node: ChildNode): Promise<void> {
  await node.child.kill();
}

/** Collects every message frame of a stream in the background. */
function collect(stream: OpenSse): { messages: SseMessage[]; done: Promise<void> } {
  const messages: SseMessage[] = [];
  const done = (async () => {
    try {
      for (;;) {
        const m = await stream.reader.nextMessage(60_000);
        if (m === undefined) return;
        messages.push(m);
      }
    } catch {
      // the stream broke (its node was killed) or was aborted
    }
  })();
  return { messages, done };
}

async function announce(node: TestTether, sid: string, id: number): Promise<void> {
  const s = await postSse(`${node.url}/mcp`, sid, rpc(id, 'tools/call', { name: 'announce', arguments: {} }));
  await readUntil(s, (m) => m.message.id === id);
}

afterAll(killAll);

describe.skipIf(!hasRedis())('cluster failover (Redis)', () => {
  let redis: RunningRedis;
  let B: TestTether;
  let C: TestTether;

  beforeAll(async () => {
    redis = await startRedis();
    [B, C] = (await Promise.all(
      [0, 1].map(() =>
        startTether({ redisUrl: redis.url, setup: clusterSetup, logLevel: 'info', pingIntervalMs: 60_000 }),
      ),
    )) as [TestTether, TestTether];
  });

  afterAll(async () => {
    await Promise.all([B?.close(), C?.close()]);
    await redis?.stop();
  });

  it('a client whose node is killed while holding its GET stream resumes on B and gets every notification, in order, once', async () => {
    const A = await startNode(['--redis', redis.url, '--ping-interval', '60s']);
    const sid = await initSession(`${A.url}/mcp`);
    const onA = collect(await getSse(`${A.url}/mcp`, sid));
    for (let i = 0; i < 3; i++) await announce(C, sid, i);
    await waitFor(() => onA.messages.length === 3, 5_000, 'three notifications on A');
    await kill(A);
    await onA.done;
    // Published while the client has no stream at all.
    for (let i = 3; i < 6; i++) await announce(C, sid, i);
    const lastSeen = onA.messages.at(-1)?.id;
    expect(lastSeen).toBeDefined();
    const onB = collect(await getSse(`${B.url}/mcp`, sid, lastSeen));
    await waitFor(() => onB.messages.length === 3, 5_000, 'the three missed notifications replayed on B');
    for (let i = 6; i < 8; i++) await announce(C, sid, i);
    await waitFor(() => onB.messages.length === 5, 5_000, 'live notifications on B');
    const all = [...onA.messages, ...onB.messages];
    expect(all.every((m) => m.message.method === 'notifications/tools/list_changed')).toBe(true);
    const ids = all.map((m) => m.id!);
    expect(new Set(ids).size).toBe(8);
    // Event ids carry the Redis entry id: their order is the order the session sent them in.
    const entry = (id: string) =>
      id
        .slice(id.lastIndexOf('.') + 1)
        .split('-')
        .map(Number) as [number, number];
    const sorted = [...ids].sort((x, y) => entry(x)[0] - entry(y)[0] || entry(x)[1] - entry(y)[1]);
    expect(ids).toEqual(sorted);
  }, 30_000);

  it('a call running on a killed node ends, on resumption elsewhere, with an error the client can retry', async () => {
    const A = await startNode(['--redis', redis.url, '--ping-interval', '60s']);
    const sid = await initSession(`${A.url}/mcp`);
    const call = await postSse(
      `${A.url}/mcp`,
      sid,
      rpc(9, 'tools/call', { name: 'countdown', arguments: { seconds: 30 }, _meta: { progressToken: 'k' } }),
    );
    const first = await readUntil(call, (m) => m.message.method === 'notifications/progress');
    await kill(A);
    call.abort();
    const resumed = await getSse(`${B.url}/mcp`, sid, first.at(-1)?.id);
    const rest = await readUntil(resumed, (m) => m.message.id === 9, 15_000);
    const answer = rest.at(-1)?.message as { id: number; error?: { code: number; message: string } };
    expect(answer.id).toBe(9);
    expect(answer.error?.code).toBe(-32603);
    expect(answer.error?.message).toMatch(/stopped before answering.*retried/);
    expect(await resumed.reader.next(5_000)).toBeUndefined();
    // Retrying on a live node works.
    const retry = await postSse(
      `${B.url}/mcp`,
      sid,
      rpc(10, 'tools/call', { name: 'countdown', arguments: { seconds: 1 } }),
    );
    const done = await readUntil(retry, (m) => m.message.id === 10);
    expect(done.at(-1)?.message.result).toBeDefined();
  }, 30_000);
});

describe.skipIf(!hasRedis())('Redis outages', () => {
  it('the CLI exits 2 with a clear message when Redis is unreachable at start', async () => {
    const port = await freePort();
    const child = spawnNode(
      ['src/cli/bin.ts', 'serve', '--port', '0', '--redis', `redis://127.0.0.1:${port}`],
      {
        tsx: true,
        env: { NO_COLOR: '1' },
      },
    );
    const { code } = await child.exited;
    const stderr = child.stderr();
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain(`cannot connect to Redis at redis://127.0.0.1:${port}`);
  }, 20_000);

  it('answers new sessions 503 while Redis is down, keeps serving, and recovers when it is back', async () => {
    const redis = await startRedis();
    const [A, B] = (await Promise.all(
      [0, 1].map(() =>
        startTether({ redisUrl: redis.url, setup: clusterSetup, logLevel: 'info', pingIntervalMs: 60_000 }),
      ),
    )) as [TestTether, TestTether];
    try {
      const before = await initSession(`${A.url}/mcp`);
      const local = await postSse(
        `${A.url}/mcp`,
        before,
        rpc(1, 'tools/call', { name: 'countdown', arguments: { seconds: 2 } }),
      );
      await pauseRedis(redis);
      await waitFor(() => A.logsOf('redis.connection_lost').length > 0, 5_000, 'A notices the loss');
      const refused = await fetch(`${B.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify(
          rpc(0, 'initialize', {
            protocolVersion: '2025-11-25',
            capabilities: {},
            clientInfo: { name: 'x', version: '1' },
          }),
        ),
      });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      // A call already running on A still answers on its local stream.
      const answer = await readUntil(local, (m) => m.message.id === 1, 10_000);
      expect(answer.at(-1)?.message.result).toBeDefined();
      expect((await fetch(`${A.url}/healthz`)).status).toBe(200);

      await redis.start();
      await waitFor(
        () => A.logsOf('redis.reconnected').length > 0 && B.logsOf('redis.reconnected').length > 0,
        10_000,
        'both reconnect',
      );
      const sid = await initSession(`${A.url}/mcp`);
      const onB = await postSse(
        `${B.url}/mcp`,
        sid,
        rpc(2, 'tools/call', { name: 'add', arguments: { a: 1, b: 1 } }),
      );
      expect((await readUntil(onB, (m) => m.message.id === 2)).at(-1)?.message.result).toBeDefined();
      // The pub/sub subscriptions came back too: a listen notification from A reaches a listener on B.
      const listener = new Client(
        { name: 'after-restart', version: '1' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } } },
      );
      await listener.connect(new StreamableHTTPClientTransport(B.mcpUrl));
      let notified = 0;
      listener.setNotificationHandler('notifications/tools/list_changed', () => {
        notified++;
      });
      await listener.listen({ toolsListChanged: true });
      await waitFor(
        () => [...B.tether.registry.values()].some((c) => c.kind === 'listen'),
        5_000,
        'listen stream on B',
      );
      A.tether.notify.toolsChanged();
      await waitFor(() => notified === 1, 5_000, 'notification after the restart');
      await listener.close();
      const metrics = await (await fetch(`${A.url}/metrics`)).text();
      expect(metrics).toMatch(/mcp_tether_redis_connection_lost_total 1/);
      expect(metrics).toMatch(/mcp_tether_redis_reconnects_total 1/);
    } finally {
      await Promise.all([A.close(), B.close()]);
      await redis.stop();
    }
  }, 40_000);
});

describe.skipIf(!hasRedis())('shared session TTL', () => {
  it('a session with an open stream on A stays servable by B past the idle TTL; without one it expires everywhere', async () => {
    const redis = await startRedis();
    const opts = {
      redisUrl: redis.url,
      setup: clusterSetup,
      logLevel: 'info',
      pingIntervalMs: 500,
      // Unanswered liveness pings must not close the GET stream during the test.
      maxPingFailures: 1_000,
      idleTimeoutMs: 1_500,
    };
    const [A, B] = (await Promise.all([startTether(opts), startTether(opts)])) as [TestTether, TestTether];
    try {
      const sid = await initSession(`${A.url}/mcp`);
      const standalone = await getSse(`${A.url}/mcp`, sid);
      await new Promise((r) => setTimeout(r, 3_000));
      expect([...A.tether.registry.values()].filter((c) => c.kind === 'standalone')).toHaveLength(1);
      const onB = await postSse(
        `${B.url}/mcp`,
        sid,
        rpc(1, 'tools/call', { name: 'add', arguments: { a: 1, b: 2 } }),
      );
      expect((await readUntil(onB, (m) => m.message.id === 1)).at(-1)?.message.result).toBeDefined();
      standalone.abort();
      // Idle from here: the shared record expires one TTL (1.5 s) later and the nodes' copies are
      // swept. A request in between would keep it alive, so wait once, with a wide margin.
      await new Promise((r) => setTimeout(r, 6_000));
      const gone = await post(`${B.url}/mcp`, rpc(2, 'tools/list'), { 'mcp-session-id': sid });
      expect(gone.status).toBe(404);
    } finally {
      await Promise.all([A.close(), B.close()]);
      await redis.stop();
    }
  }, 30_000);
});
