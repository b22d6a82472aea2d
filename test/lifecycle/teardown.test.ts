import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeepaliveScheduler } from '../../src/connection/keepalive-scheduler.js';
import { waitFor } from '../support/process.js';
import { getHeaders, initSession, sessionHeaders, toolCall } from '../support/rpc.js';
import { openStream } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';
import { modernCountdown, recordingSetup } from './support/recording-setup.js';

/** Active handles by type, e.g. { Timeout: 2, TCPServerWrap: 1 }. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

function listenerCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of process.eventNames()) counts[String(name)] = process.listenerCount(name);
  return counts;
}

describe('nothing is left behind after close()', () => {
  let t: TestTether | undefined;

  afterEach(async () => {
    vi.restoreAllMocks();
    t?.tether.destroy();
    t = undefined;
  });

  it('empties the registry, stops the scheduler, clears its timers and closes the server; close() twice and destroy() after are safe', async () => {
    const schedulerStart = vi.spyOn(KeepaliveScheduler.prototype, 'start');
    const timersBefore = resources().Timeout ?? 0;
    const listenersBefore = listenerCounts();
    const recorder = recordingSetup();
    t = await startTether({
      setup: recorder.setup,
      pingIntervalMs: 100,
      // The raw GET client does not answer liveness pings; keep its stream open for the test.
      maxPingFailures: 1_000,
      idleTimeoutMs: 60_000,
      shutdownGraceMs: 200,
    });
    const { port } = t.mcpUrl;

    const sessionId = await initSession(t.mcpUrl);
    const get = await openStream(t.mcpUrl, { headers: getHeaders(sessionId) });
    const post = await openStream(t.mcpUrl, {
      headers: sessionHeaders(sessionId),
      body: toolCall('c', 'countdown', { seconds: 60, stepMs: 400 }, 'c'),
    });
    const modern = await openStream(t.mcpUrl, modernCountdown(60, 400));
    await post.until((text) => text.includes('notifications/progress'), 5_000, 'legacy progress');
    await modern.until((text) => text.includes(': ping'), 5_000, 'a ping on the modern stream');
    expect(t.tether.registry.size).toBe(3);
    expect(t.tether.sessions.size).toBe(1);
    const scheduler = schedulerStart.mock.contexts[0] as KeepaliveScheduler;
    expect(scheduler.running).toBe(true);
    expect(resources().Timeout ?? 0).toBeGreaterThan(timersBefore);

    const first = t.tether.close();
    expect(t.tether.close()).toBe(first);
    await first;
    await t.tether.close();

    expect(t.tether.registry.size).toBe(0);
    expect(t.tether.sessions.size).toBe(0);
    expect(scheduler.running).toBe(false);
    expect(t.logsOf('server.closed')).toHaveLength(1);
    // Every stream's client saw its stream end.
    expect(await Promise.all([get.ended, post.ended, modern.ended])).toHaveLength(3);
    // The in-flight calls outlived the grace period: stopped, not left running on a dead server.
    expect(t.logsOf('server.grace_expired')).toHaveLength(1);
    await waitFor(() => recorder.runs.every((r) => r.abortedAt !== undefined), 2_000, 'the calls to abort');

    const refused = connect({ host: '127.0.0.1', port: Number(port) });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');

    const linesBefore = t.logs.length;
    t.tether.destroy();
    t.tether.destroy();
    await t.tether.close();
    expect(t.logs.slice(linesBefore)).toEqual([]);

    // Closed sockets and cleared timers leave the handle list as it was.
    await waitFor(() => (resources().Timeout ?? 0) <= timersBefore, 2_000, 'timers to clear');
    expect(resources().TCPServerWrap ?? 0).toBe(0);
    expect(listenerCounts()).toEqual(listenersBefore);
  });

  it('close() of an instance that never served /mcp is safe and leaves no timer', async () => {
    const timersBefore = resources().Timeout ?? 0;
    t = await startTether({ pingIntervalMs: 100 });
    const health = await fetchStatus(t.url, '/healthz');
    expect(health).toBe(200);
    await t.close();
    await t.close();
    t.tether.destroy();
    expect(t.tether.registry.size).toBe(0);
    await waitFor(() => (resources().Timeout ?? 0) <= timersBefore, 2_000, 'timers to clear');
  });
});

async function fetchStatus(base: string, path: string): Promise<number> {
  const s = await openStream(new URL(path, base));
  await s.ended;
  return s.status;
}
