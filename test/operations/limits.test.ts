import { afterEach, describe, expect, it } from 'vitest';
import type { CreateTetherOptions } from '../../src/index.js';
import { METRIC_METHODS } from '../../src/observability/metrics.js';
import { startTether, type TestTether } from '../helpers/tether.js';
import { openRawSession, post, rpc, SseReader, type Wire } from '../integration/raw.js';

let t: TestTether | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function start(options: CreateTetherOptions = {}): Promise<TestTether> {
  t = await startTether({ logLevel: 'warn', pingIntervalMs: 60_000, ...options });
  return t;
}

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** The `method` labels `requests_total` carries. */
function methodLabels(text: string): Set<string> {
  const labels = new Set<string>();
  for (const match of text.matchAll(/^mcp_tether_requests_total\{method="([^"]*)"/gm))
    labels.add(match[1] ?? '');
  return labels;
}

/** Every JSON-RPC message of a POST's answer, whether JSON or an SSE stream. */
async function answers(res: Response): Promise<Wire[]> {
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const body = (await res.json()) as Wire | Wire[];
    return Array.isArray(body) ? body : [body];
  }
  const sse = new SseReader(res.body!);
  const messages: Wire[] = [];
  for (;;) {
    const next = await sse.nextMessage(10_000);
    if (next === undefined) return messages;
    messages.push(next.message);
  }
}

describe('requests_total method labels', () => {
  it('counts methods outside the spec as other, however they are spelled', async () => {
    const { url, mcpUrl } = await start();
    const session = await openRawSession(mcpUrl);
    const invented = ['tools/invented', 'initializeX', 'resources/../x', `tools/${'y'.repeat(10_000)}`];
    const batch = [...invented.map((method, i) => rpc(i + 1, method)), rpc(99, 'tools/list')];
    const res = await post(mcpUrl, batch, session.headers);
    expect((await answers(res)).map((m) => m.id).sort()).toEqual([1, 2, 3, 4, 99]);
    const labels = methodLabels(await metricsText(url));
    expect([...labels].sort()).toEqual(['initialize', 'other', 'tools/list']);
  });

  it('labels the spec and tasks extension methods by name', () => {
    for (const method of [
      'initialize',
      'ping',
      'tools/call',
      'resources/read',
      'tasks/get',
      'tasks/update',
    ]) {
      expect(METRIC_METHODS.has(method), method).toBe(true);
    }
    expect(METRIC_METHODS.has('tools/invented')).toBe(false);
  });
});

describe('admin API paths', () => {
  it('answers 400 with a registry error to a connection id that is not valid percent-encoding', async () => {
    const admin = 'admin-0123456789abcdef';
    const { url } = await start({ adminToken: admin, logLevel: 'debug' });
    for (const id of ['%E0%A4%A', '%', '%zz', '%C0']) {
      const res = await fetch(`${url}/mcp/connections/${id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(res.status, id).toBe(400);
      const body = (await res.json()) as Wire;
      expect(body.error?.data).toEqual({ code: 'TETHER_ERR_ADMIN_BAD_CONNECTION_ID' });
    }
    const known = await fetch(`${url}/mcp/connections/${encodeURIComponent('no such')}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(known.status).toBe(404);
    expect(t?.logsOf('request.failed')).toEqual([]);
  });
});
