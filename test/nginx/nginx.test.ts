/**
 * mcp-tether behind the nginx configuration of docs/deploying-behind-nginx.md,
 * run with the system nginx. Events must pass one by one, each soon after the
 * server wrote it, and a client that goes away must reach mcp-tether as a
 * disconnect.
 */
import { request } from 'node:http';
import { Client as ClientV2, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configFromDoc,
  hasNginx,
  NGINX_BIN,
  type RunningNginx,
  replaceOnce,
  startNginx,
} from '../support/nginx.js';
import { waitFor } from '../support/process.js';
import { openRawSession, openSeed, post, SEED_HEADERS, toolCall } from '../support/rpc.js';
import { json, type ReceivedFrame, SseReader, tapWrites, type WrittenFrame } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';
import { call } from '../transports/support/tools.js';

const PING_MS = 200;

const DOC = new URL('../../docs/deploying-behind-nginx.md', import.meta.url);

/** The doc's server block with only its two addresses changed: nginx's listen port and the upstream. */
function configForTest(listenPort: number, upstreamPort: number): string {
  let conf = configFromDoc(DOC, 'nginx-config');
  conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${listenPort};`);
  conf = replaceOnce(conf, 'server 127.0.0.1:8000;', `server 127.0.0.1:${upstreamPort};`);
  return conf;
}

if (!hasNginx()) console.warn(`nginx not found at ${NGINX_BIN}: skipping the nginx suite (CI installs it)`);

describe.skipIf(!hasNginx())('behind nginx (config from docs/deploying-behind-nginx.md)', () => {
  let t: TestTether;
  let nginx: RunningNginx;
  let written: WrittenFrame[];
  let stopTap: () => void;

  beforeAll(async () => {
    // Raw clients here never answer liveness pings; keep their streams for the length of a test.
    t = await startTether({ pingIntervalMs: PING_MS, maxPingFailures: 1_000 });
    ({ written, stop: stopTap } = tapWrites(t.tether.registry));
    nginx = await startNginx({ site: (port) => configForTest(port, Number(new URL(t.url).port)) });
  });

  afterAll(async () => {
    stopTap?.();
    await nginx?.stop();
    await t?.close();
  });

  /** When the server wrote the first frame of `connectionId` that contains `marker`. */
  function writtenAt(connectionId: string, marker: string): number {
    const frame = written.find((w) => w.connectionId === connectionId && w.text.includes(marker));
    if (frame === undefined) throw new Error(`no frame with ${marker} written to ${connectionId}`);
    return frame.writtenAt;
  }

  it('passes the seed stream through with its headers, and each ping arrives before the next is written', async () => {
    const s = await openSeed(nginx.url);
    try {
      expect(s.response.headers.get('content-type')).toBe('text/event-stream');
      expect(s.response.headers.get('cache-control')).toBe('no-cache');
      expect(s.response.headers.get('content-length')).toBeNull();
      const pings: ReceivedFrame[] = [];
      while (pings.length < 5) pings.push(await s.reader.nextEvent('ping', 5 * PING_MS));

      const delays = pings.map((frame, i) => {
        const count = json<{ data: { ping_count: number } }>(frame).data.ping_count;
        expect(count).toBe(i + 1);
        return frame.receivedAt - writtenAt(s.connectionId, `"ping_count":${count},`);
      });
      // Buffered, ~100-byte pings would sit in nginx until a buffer filled and
      // arrive in one burst; unbuffered, each arrives well within an interval.
      for (const d of delays) expect(d).toBeLessThan(PING_MS);
      expect(pings[4]!.receivedAt - pings[0]!.receivedAt).toBeGreaterThanOrEqual(3 * PING_MS);
    } finally {
      s.abort();
    }
  });

  it('delivers countdown progress over /mcp one event at a time', async () => {
    const session = await openRawSession(`${nginx.url}/mcp`, { clientName: 'nginx-test' });

    const opened = [...t.tether.registry.values()].map((c) => c.id);
    const res = await post(
      `${nginx.url}/mcp`,
      toolCall(1, 'countdown', { seconds: 3 }, 'cd'),
      session.headers,
    );
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const stream = [...t.tether.registry.values()].find(
      (c) => !opened.includes(c.id) && c.kind === 'response',
    );
    expect(stream).toBeDefined();
    const frames = await new SseReader(res.body!).rest(10_000);
    const progress = frames.filter((f) => f.data?.includes('notifications/progress'));
    expect(progress.map((f) => json<{ params: { progress: number } }>(f).params.progress)).toEqual([1, 2, 3]);
    expect(json(frames.at(-1)!)).toMatchObject({
      id: 1,
      result: { content: [{ text: 'Countdown of 3s finished' }] },
    });

    const delays = progress.map((f, i) => f.receivedAt - writtenAt(stream!.id, `"progress":${i + 1},`));
    for (const d of delays) expect(d).toBeLessThan(500);
    // A second apart on the server, so about a second apart at the client: not one burst at the end.
    expect(progress[1]!.receivedAt - progress[0]!.receivedAt).toBeGreaterThan(500);
    expect(progress[2]!.receivedAt - progress[1]!.receivedAt).toBeGreaterThan(500);
  });

  it('turns a client abort at nginx into client_disconnect at mcp-tether, at once', async () => {
    const s = await openSeed(nginx.url);
    expect(t.tether.registry.get(s.connectionId)).toBeDefined();
    const abortedAt = performance.now();
    s.abort();
    const closed = () => t.logsOf('connection.closed').filter((l) => l.connection_id === s.connectionId);
    await waitFor(() => closed().length === 1, 2_000, 'connection.closed through nginx');
    expect(performance.now() - abortedAt).toBeLessThan(2_000);
    expect(closed()[0]).toMatchObject({ reason: 'client_disconnect', transport: 'seed-sse' });
    expect(t.tether.registry.get(s.connectionId)).toBeUndefined();
  });

  it('serves the SDK clients through nginx: HTTP+SSE (v1) and Streamable HTTP (v2)', async () => {
    const legacy = new ClientV1({ name: 'nginx-legacy', version: '1' });
    const modern = new ClientV2({ name: 'nginx-streamable', version: '1' });
    try {
      await legacy.connect(new SSEClientTransport(new URL(`${nginx.url}/sse`)));
      expect(await legacy.callTool({ name: 'echo', arguments: { text: 'legacy' } })).toMatchObject({
        content: [{ type: 'text', text: 'legacy' }],
      });
      await modern.connect(new StreamableHTTPClientTransport(new URL(`${nginx.url}/mcp`)));
      expect(await modern.callTool({ name: 'echo', arguments: { text: 'streamable' } })).toMatchObject({
        content: [{ type: 'text', text: 'streamable' }],
      });
    } finally {
      await legacy.close().catch(() => {});
      await modern.close().catch(() => {});
    }
  });

  it('accepts the public Host name through nginx, which mcp-tether alone refuses', async () => {
    const status = (base: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${base}/healthz`, { headers: { host: 'mcp.example.com' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.once('error', reject);
        req.end();
      });
    expect(await status(nginx.url)).toBe(200);
    expect(await status(t.url)).toBe(403);
  });

  it("lets an oversized body through to mcp-tether's own 413, every time", async () => {
    const big = JSON.stringify(call(1, 'echo', { text: 'x'.repeat(4.5 * 1024 * 1024) }));
    const seed = await openSeed(nginx.url);
    const legacy = await fetch(`${nginx.url}/sse`, { headers: { accept: 'text/event-stream' } });
    const legacyReader = new SseReader(legacy.body!);
    const endpoint = (await legacyReader.nextEvent('endpoint')).data!;
    const targets = [
      { url: `${nginx.url}/mcp/sse`, headers: SEED_HEADERS },
      { url: `${nginx.url}/mcp/sse?connection_id=${seed.connectionId}`, headers: SEED_HEADERS },
      { url: `${nginx.url}${endpoint}`, headers: { 'content-type': 'application/json' } },
    ];
    try {
      // Closing the socket while nginx still sends the body made nginx answer
      // 502 most of the time, so each target is tried more than once.
      for (const target of targets) {
        for (let i = 0; i < 3; i++) {
          const res = await fetch(target.url, { method: 'POST', headers: target.headers, body: big });
          expect(res.status, target.url).toBe(413);
          expect(await res.json()).toMatchObject({
            error: { data: { code: 'TETHER_ERR_HTTP_BODY_TOO_LARGE' } },
          });
        }
      }
      // The streams the bodies were aimed at are still open.
      expect(t.tether.registry.get(seed.connectionId)?.closed).toBe(false);
    } finally {
      seed.abort();
      await legacyReader.cancel();
    }
  });
});
