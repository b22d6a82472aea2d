import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { getHeaders, initSession, modernRequest, sessionHeaders, toolCall } from '../support/rpc.js';
import { messageOf, messagesOf, openStream, type SseFrame, type StreamingResponse } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';
import { recordingSetup } from './support/recording-setup.js';

const PING = ': ping\n\n';
const countPings = (text: string) => text.split(PING).length - 1;

/** `connection.closed` lines logged after the first `skip` log lines (e.g. after initialize). */
function closedSince(t: TestTether, skip: number) {
  return t.logs.slice(skip).filter((l) => l.msg === 'connection.closed');
}

describe('keepalive and maximum age over real streams', () => {
  let t: TestTether | undefined;
  const open: StreamingResponse[] = [];

  afterEach(async () => {
    for (const s of open.splice(0)) s.destroy();
    await t?.close();
    t = undefined;
  });

  it('probes an idle 2025-era GET stream with JSON-RPC pings and keeps it while the client answers', async () => {
    t = await startTether({ pingIntervalMs: 100, maxPingFailures: 2 });
    const sessionId = await initSession(t.mcpUrl);
    const s = await openStream(t.mcpUrl, { headers: getHeaders(sessionId) });
    open.push(s);
    expect(s.status).toBe(200);
    const answered = new Set<unknown>();
    const pingsIn = () => messagesOf(s.frames()).filter((m) => m.method === 'ping');
    // Answer every ping as a client would, by POSTing the response.
    while (answered.size < 5) {
      await s.until(() => pingsIn().some((m) => !answered.has(m.id)), 5_000, 'a new ping request');
      for (const ping of pingsIn().filter((m) => !answered.has(m.id))) {
        answered.add(ping.id);
        const res = await fetch(t.mcpUrl, {
          method: 'POST',
          headers: { ...sessionHeaders(sessionId), 'Content-Type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: ping.id, result: {} }),
        });
        expect(res.status).toBe(202);
      }
    }
    const [conn] = [...t.tether.registry.values()];
    expect(conn?.closed).toBe(false);
    expect(conn?.consecutiveFailures).toBeLessThan(2);
    expect(t.logsOf('connection.closed')).toHaveLength(1); // only the initialize response stream
  });

  it('closes a GET stream whose client never answers its pings with ping_timeout, and counts the failures', async () => {
    t = await startTether({ pingIntervalMs: 100, maxPingFailures: 3 });
    const sessionId = await initSession(t.mcpUrl);
    const mark = t.logs.length;
    const s = await openStream(t.mcpUrl, { headers: getHeaders(sessionId) });
    open.push(s);
    expect(await s.ended).toBe('end');
    const pings = messagesOf(s.frames()).filter((m) => m.method === 'ping');
    // Each interval finds the previous ping unanswered; the third failure closes before a fourth is sent.
    expect(pings.length).toBe(3);
    const failures = t.logs.slice(mark).filter((l) => l.msg === 'connection.ping_failed');
    expect(failures.map((l) => l.consecutive_failures)).toEqual([1, 2, 3]);
    expect(failures.every((l) => l.why === 'unanswered')).toBe(true);
    expect(closedSince(t, mark)).toMatchObject([{ reason: 'ping_timeout' }]);
    expect(t.logs.slice(mark).filter((l) => l.msg === 'connection.max_failures_reached')).toHaveLength(1);
    // The client is gone: its session ends with the stream, and its id is unknown from then on.
    await waitFor(() => t!.logsOf('session.closed').length === 1, 2_000, 'the session to close');
    expect(t.logsOf('session.closed')).toMatchObject([{ session_id: sessionId, reason: 'ping_timeout' }]);
    const after = await fetch(t.mcpUrl, {
      method: 'POST',
      headers: { ...sessionHeaders(sessionId), 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
    });
    expect(after.status).toBe(404);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toContain('mcp_tether_ping_failures_total 3');
    expect(metrics).toContain(
      'mcp_tether_connections_closed_total{transport="streamable-http",reason="ping_timeout"} 1',
    );
  });

  it('does not ping a stream that carries traffic more often than the interval', async () => {
    const recorder = recordingSetup();
    t = await startTether({ setup: recorder.setup, pingIntervalMs: 500 });
    const sessionId = await initSession(t.mcpUrl);
    const s = await openStream(t.mcpUrl, {
      headers: sessionHeaders(sessionId),
      body: toolCall('busy', 'countdown', { seconds: 30, stepMs: 25 }, 'busy'),
    });
    expect(await s.ended).toBe('end');

    const progress = s.frames().filter((f) => f.data?.includes('notifications/progress'));
    expect(progress).toHaveLength(30);
    expect(countPings(s.text())).toBe(0);
    expect(t.logsOf('connection.closed').at(-1)).toMatchObject({
      reason: 'completed',
      pings_sent: 0,
    });
  });

  it('keeps an idle 2026-07-28 response stream alive with the same `: ping` lines', async () => {
    const recorder = recordingSetup();
    t = await startTether({ setup: recorder.setup, pingIntervalMs: 100 });
    const request = modernRequest(
      7,
      'tools/call',
      { name: 'countdown', arguments: { seconds: 2, stepMs: 400 } },
      { progressToken: 'm' },
    );
    const s = await openStream(t.mcpUrl, request);
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(await s.ended).toBe('end');

    const frames = s.frames();
    const result = frames.map(messageOf).find((m) => m?.id === 7);
    expect(result).toMatchObject({ result: { content: [{ type: 'text' }] } });
    // Pings only between whole frames, never inside one.
    for (const f of frames) expect(f.comments.length === 0 || f.data === undefined).toBe(true);
    expect(countPings(s.text())).toBeGreaterThanOrEqual(2);
    expect(t.logsOf('connection.closed')[0]).toMatchObject({ reason: 'completed' });
  });

  it('closes a stream at its maximum age with a `retry:` line last', async () => {
    t = await startTether({ pingIntervalMs: 100, maxConnectionAgeMs: 300 });
    const sessionId = await initSession(t.mcpUrl);
    const mark = t.logs.length;
    const s = await openStream(t.mcpUrl, { headers: getHeaders(sessionId) });
    open.push(s);

    expect(await s.ended).toBe('end');
    const frames = s.frames();
    expect(frames.at(-1)).toEqual({ retry: 1_000, comments: [] });
    expect(s.text().endsWith('retry: 1000\n\n')).toBe(true);
    const closed = closedSince(t, mark);
    expect(closed.map((l) => [l.stream, l.reason])).toEqual([['standalone', 'max_age']]);
    expect(closed[0]!.uptime_ms as number).toBeGreaterThanOrEqual(300);
    // The session outlives its stream: a new GET is served.
    expect(t.tether.sessions.get(sessionId)).toBeDefined();
    const again = await openStream(t.mcpUrl, { headers: getHeaders(sessionId) });
    open.push(again);
    expect(again.status).toBe(200);
  });

  it('a client resumes after every max-age close with Last-Event-ID and loses no event', async () => {
    const recorder = recordingSetup();
    t = await startTether({ setup: recorder.setup, pingIntervalMs: 100, maxConnectionAgeMs: 300 });
    const sessionId = await initSession(t.mcpUrl);
    const mark = t.logs.length;
    let s = await openStream(t.mcpUrl, {
      headers: sessionHeaders(sessionId),
      body: toolCall('long', 'countdown', { seconds: 5, stepMs: 250 }, 'long'),
    });
    const received: SseFrame[] = [];
    let lastEventId: string | undefined;
    let connections = 0;
    for (;;) {
      connections++;
      open.push(s);
      expect(s.status).toBe(200);
      expect(await s.ended).toBe('end');
      const frames = s.frames();
      received.push(...frames);
      for (const f of frames) if (f.id !== undefined) lastEventId = f.id;
      if (frames.some((f) => messageOf(f)?.id === 'long')) break;
      // Closed before the result: it must be the max-age close, with its hint last.
      expect(frames.at(-1)).toEqual({ retry: 1_000, comments: [] });
      expect(connections).toBeLessThan(20);
      expect(lastEventId).toBeDefined();
      s = await openStream(t.mcpUrl, { headers: getHeaders(sessionId, lastEventId) });
    }

    expect(connections).toBeGreaterThanOrEqual(3);
    const messages = messagesOf(received);
    const progress = messages
      .filter((m) => m.method === 'notifications/progress')
      .map((m) => (m.params as { progress: number }).progress);
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect(messages.filter((m) => m.id === 'long')).toHaveLength(1);
    const seqs = received.flatMap((f) => (f.id === undefined ? [] : [Number(f.id.split('.').pop())]));
    expect(seqs).toEqual([0, 1, 2, 3, 4, 5, 6]);

    const reasons = closedSince(t, mark);
    expect(reasons).toHaveLength(connections);
    expect(reasons.slice(0, -1).every((l) => l.reason === 'max_age')).toBe(true);
    expect(['completed', 'max_age']).toContain(reasons.at(-1)!.reason);
  });

  it('the v1 SDK client rides through max-age closes and gets every progress step and the result', async () => {
    const recorder = recordingSetup();
    t = await startTether({
      setup: recorder.setup,
      pingIntervalMs: 100,
      maxConnectionAgeMs: 300,
      retryMs: 50,
    });
    const client = new Client({ name: 'v1-client', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(t.mcpUrl));
    try {
      const progress: number[] = [];
      const result = await client.callTool(
        { name: 'countdown', arguments: { seconds: 4, stepMs: 250 } },
        undefined,
        {
          onprogress: (p) => progress.push(p.progress),
          resetTimeoutOnProgress: true,
          timeout: 10_000,
        },
      );
      expect(result.content).toEqual([{ type: 'text', text: 'Countdown of 4 finished' }]);
      expect(progress).toEqual([1, 2, 3, 4]);
      expect(t.logsOf('connection.closed').some((l) => l.reason === 'max_age')).toBe(true);
    } finally {
      await client.close();
    }
  });
});
