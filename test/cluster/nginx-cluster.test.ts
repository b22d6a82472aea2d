/**
 * Two nodes behind nginx as a plain round-robin load balancer (no sticky
 * sessions), configured as docs/scaling.md shows: the official SDK client
 * initializes, lists tools, calls a tool and receives its progress while its
 * requests alternate between the nodes.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFromDoc, hasNginx, type RunningNginx, replaceOnce, startNginx } from '../support/nginx.js';
import { startTether, type TestTether } from '../support/tether.js';
import { hasRedis, type RunningRedis, startRedis } from './support/redis.js';

const DOC = new URL('../../docs/scaling.md', import.meta.url);

/**
 * nginx as a round-robin load balancer without sticky sessions, with the
 * config of docs/scaling.md: only the listen port and the upstream addresses
 * are changed.
 */
function clusterConfigForTest(listenPort: number, upstreamPorts: number[]): string {
  let conf = configFromDoc(DOC, 'nginx-cluster-config');
  const servers = [...conf.matchAll(/^\s*server 10\.0\.0\.\d+:8000;$/gm)];
  if (servers.length < 2) throw new Error('expected at least two upstream servers in the doc');
  let i = 0;
  conf = conf.replace(/^(\s*)server 10\.0\.0\.\d+:8000;$/gm, (_all, indent: string) => {
    const port = upstreamPorts[i++];
    return port === undefined ? '' : `${indent}server 127.0.0.1:${port};`;
  });
  if (i < upstreamPorts.length) throw new Error('the doc lists fewer upstream servers than the test runs');
  return replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${listenPort};`);
}

describe.skipIf(!hasRedis() || !hasNginx())('two nodes behind round-robin nginx (docs/scaling.md)', () => {
  let redis: RunningRedis;
  let nodes: TestTether[] = [];
  let nginx: RunningNginx;

  beforeAll(async () => {
    redis = await startRedis();
    nodes = await Promise.all([0, 1].map(() => startTether({ redisUrl: redis.url, logLevel: 'info' })));
    nginx = await startNginx({
      site: (port) =>
        clusterConfigForTest(
          port,
          nodes.map((n) => Number(new URL(n.url).port)),
        ),
    });
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
