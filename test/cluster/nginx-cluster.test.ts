/**
 * Two nodes behind nginx as a plain round-robin load balancer (no sticky
 * sessions), configured as docs/scaling.md shows: the official SDK client
 * initializes, lists tools, calls a tool and receives its progress while its
 * requests alternate between the nodes.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTether, type TestTether } from '../helpers/tether.js';
import { hasNginx, type RunningNginx, startNginxCluster } from './support/nginx-cluster.js';
import { hasRedis, type RunningRedis, startRedis } from './support/redis.js';

describe.skipIf(!hasRedis() || !hasNginx())('two nodes behind round-robin nginx (docs/scaling.md)', () => {
  let redis: RunningRedis;
  let nodes: TestTether[] = [];
  let nginx: RunningNginx;

  beforeAll(async () => {
    redis = await startRedis();
    nodes = await Promise.all([0, 1].map(() => startTether({ redisUrl: redis.url, logLevel: 'info' })));
    nginx = await startNginxCluster(nodes.map((n) => Number(new URL(n.url).port)));
  });

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(nodes.map((n) => n.close()));
    await redis?.stop();
  });

  it('the SDK client completes initialize, tools/list and tools/call with progress through either node', async () => {
    const client = new Client({ name: 'nginx-cluster', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${nginx.url}/mcp`)));
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('countdown');
      const progress: number[] = [];
      const result = await client.callTool({ name: 'countdown', arguments: { seconds: 3 } }, undefined, {
        onprogress: (p) => progress.push(p.progress),
      });
      expect(progress).toEqual([1, 2, 3]);
      expect(JSON.stringify(result.content)).toContain('Countdown of 3s finished');
      for (let i = 0; i < 4; i++) {
        const r = await client.callTool({ name: 'add', arguments: { a: i, b: 1 } });
        expect(r.structuredContent).toEqual({ sum: i + 1 });
      }
    } finally {
      await client.close();
    }
    // Without sticky sessions both nodes served the session: one created it, the other rebuilt it.
    const created = nodes.map((n) => n.logsOf('session.created').length);
    const rehydrated = nodes.map((n) => n.logsOf('session.rehydrated').length);
    expect(created.reduce((a, b) => a + b)).toBe(1);
    expect(rehydrated.reduce((a, b) => a + b)).toBe(1);
  }, 30_000);
});
