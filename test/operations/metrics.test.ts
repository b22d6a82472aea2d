import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EmptyResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { startTether, type TestTether } from '../support/tether.js';

let t: TestTether | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Parses Prometheus text into `name{labels}` → value. */
async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const values = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

const active = (m: Map<string, number>, transport: string) =>
  m.get(`mcp_tether_connections_active{transport="${transport}"}`) ?? Number.NaN;
const opened = (m: Map<string, number>, transport: string) =>
  m.get(`mcp_tether_connections_opened_total{transport="${transport}"}`) ?? Number.NaN;
const closed = (m: Map<string, number>, transport: string, reason: string) =>
  m.get(`mcp_tether_connections_closed_total{transport="${transport}",reason="${reason}"}`) ?? Number.NaN;

describe('GET /metrics', () => {
  it('serves the mcp_tether_ metrics and the process metrics', async () => {
    t = await startTether();
    const m = await scrape(t.url);
    for (const name of [
      'mcp_tether_pings_sent_total',
      'mcp_tether_sessions_active',
      'mcp_tether_events_replayed_total',
    ]) {
      expect(m.has(name), name).toBe(true);
    }
    expect(active(m, 'streamable-http')).toBe(0);
    expect(closed(m, 'seed-sse', 'manual')).toBe(0);
    expect([...m.keys()].some((k) => k.startsWith('mcp_tether_process_resident_memory_bytes'))).toBe(true);
  });

  it('counts N streams opened and closed on every transport, matching the registry', async () => {
    t = await startTether({ pingIntervalMs: 60_000 });
    const N = 3;
    const before = await scrape(t.url);

    const sseClients: Client[] = [];
    for (let i = 0; i < N; i++) {
      const c = new Client({ name: 'legacy', version: '1' });
      await c.connect(new SSEClientTransport(new URL(`${t.url}/sse`)));
      sseClients.push(c);
    }
    const seeds: AbortController[] = [];
    for (let i = 0; i < N; i++) {
      const ac = new AbortController();
      const res = await fetch(`${t.url}/mcp/sse`, { method: 'POST', body: '', signal: ac.signal });
      expect(res.status).toBe(200);
      seeds.push(ac);
    }
    await waitFor(
      () => t!.tether.registry.countBy('seed-sse') === N && t!.tether.registry.countBy('http-sse') === N,
    );

    const during = await scrape(t.url);
    expect(active(during, 'http-sse')).toBe(N);
    expect(active(during, 'seed-sse')).toBe(N);
    expect(opened(during, 'http-sse') - opened(before, 'http-sse')).toBe(N);
    expect(opened(during, 'seed-sse') - opened(before, 'seed-sse')).toBe(N);
    expect(during.get('mcp_tether_sessions_active')).toBe(2 * N);

    for (const c of sseClients) await c.close();
    for (const ac of seeds) ac.abort();
    await waitFor(() => t!.tether.registry.size === 0, 5_000, 'all streams released');

    const after = await scrape(t.url);
    expect(active(after, 'http-sse')).toBe(0);
    expect(active(after, 'seed-sse')).toBe(0);
    expect(
      closed(after, 'http-sse', 'client_disconnect') - closed(before, 'http-sse', 'client_disconnect'),
    ).toBe(N);
    expect(
      closed(after, 'seed-sse', 'client_disconnect') - closed(before, 'seed-sse', 'client_disconnect'),
    ).toBe(N);
    expect(after.get('mcp_tether_sessions_active')).toBe(0);
  });

  it('counts requests by method and outcome with their duration', async () => {
    t = await startTether();
    const client = new Client({ name: 'm', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(t.mcpUrl));
    await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    await client.callTool({ name: 'echo', arguments: { text: 'y' } });
    await expect(client.request({ method: 'no/such', params: {} }, EmptyResultSchema)).rejects.toThrow();
    await client.close();
    const m = await scrape(t.url);
    expect(m.get('mcp_tether_requests_total{method="tools/call",outcome="ok"}')).toBe(2);
    expect(m.get('mcp_tether_requests_total{method="other",outcome="error"}')).toBe(1);
    expect(m.get('mcp_tether_request_duration_seconds_count{method="tools/call"}')).toBe(2);
  });
});
