import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type LoopbackStreams, startLoopbackStreams } from '../../test/lifecycle/support/loopback.js';
import { KeepaliveScheduler, type KeepaliveSettings } from './keepalive-scheduler.js';

const PING_MS = 1_000;
const RETRY_MS = 1_500;
const SENTINEL = 'event: sentinel\ndata: end\n\n';

/** Fakes only the clock and timers; sockets, nextTick and setImmediate stay real. */
function fakeClock(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
}

/**
 * Advances fake time one scheduler tick at a time and lets real I/O run in
 * between, as it would between two real ticks: `res.write` corks the socket
 * until the next process tick, so without the pause every write would still
 * look buffered at the following tick.
 */
async function advance(ms: number, stepMs = 200): Promise<void> {
  for (let left = ms; left > 0; left -= stepMs) {
    vi.advanceTimersByTime(Math.min(stepMs, left));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** A frame far larger than loopback socket buffers can absorb from a client that never reads. */
const BIG_FRAME = `data: ${'x'.repeat(16 * 1024 * 1024)}\n\n`;

describe('KeepaliveScheduler', () => {
  let h: LoopbackStreams;
  let scheduler: KeepaliveScheduler | undefined;

  const start = (settings: Partial<KeepaliveSettings> = {}) => {
    scheduler = new KeepaliveScheduler(h.registry, {
      pingIntervalMs: PING_MS,
      maxPingFailures: 3,
      maxConnectionAgeMs: 0,
      ...settings,
    });
    scheduler.start();
    return scheduler;
  };

  beforeEach(async () => {
    h = await startLoopbackStreams(RETRY_MS);
    fakeClock();
  });

  afterEach(async () => {
    scheduler?.stop();
    scheduler = undefined;
    vi.useRealTimers();
    await h.close();
  });

  it('ticks once per tickMs (a fifth of the interval) and passes the tick time to hooks', () => {
    const s = start();
    expect(s.tickMs).toBe(200);
    const hookTimes: number[] = [];
    s.onTick((now) => hookTimes.push(now));
    const tick = vi.spyOn(s, 'tick');
    const t0 = Date.now();

    vi.advanceTimersByTime(199);
    expect(tick).toHaveBeenCalledTimes(0);
    vi.advanceTimersByTime(1);
    expect(tick).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(800);
    expect(tick).toHaveBeenCalledTimes(5);
    expect(hookTimes).toEqual([200, 400, 600, 800, 1000].map((d) => t0 + d));
  });

  it('writes `: ping` only to a stream idle for a full interval, not to one with recent traffic', async () => {
    const idle = await h.openReading();
    const busy = await h.openReading();
    const s = start();

    await advance(600);
    busy.connection.write('event: message\ndata: {}\n\n');
    await advance(400); // t=1000: idle has been idle 1000 ms, busy only 400 ms

    expect(idle.connection.pingsSent).toBe(1);
    expect(busy.connection.pingsSent).toBe(0);
    idle.connection.write(SENTINEL);
    busy.connection.write(SENTINEL);
    expect(await idle.until((t) => t.includes(SENTINEL))).toBe(`: ping\n\n${SENTINEL}`);
    expect(await busy.until((t) => t.includes(SENTINEL))).toBe(`event: message\ndata: {}\n\n${SENTINEL}`);

    // Sentinels count as traffic: no stream is due again before another full interval.
    await advance(PING_MS - s.tickMs);
    expect(idle.connection.pingsSent).toBe(1);
    expect(busy.connection.pingsSent).toBe(0);
  });

  it('pings an idle stream once per interval and counts every ping', async () => {
    const idle = await h.openReading();
    start();

    await advance(5 * PING_MS);
    expect(idle.connection.pingsSent).toBe(5);
    const text = await idle.until((t) => t.split(': ping\n\n').length - 1 === 5);
    expect(text).toBe(': ping\n\n'.repeat(5));
    expect(idle.connection.consecutiveFailures).toBe(0);
  });

  it('skips a stream that is not at a frame boundary', async () => {
    const partial = await h.openReading();
    start();
    partial.connection.write('data: half a fra');
    partial.connection.atFrameBoundary = false;

    await advance(3 * PING_MS);
    expect(partial.connection.pingsSent).toBe(0);
    partial.connection.write('me\n\n');
    partial.connection.atFrameBoundary = true;
    await advance(PING_MS);
    expect(partial.connection.pingsSent).toBe(1);
    expect(await partial.until((t) => t.endsWith(': ping\n\n'))).toBe('data: half a frame\n\n: ping\n\n');
  });

  it('closes a stream past its maximum age with `max_age`, writing a `retry:` hint first', async () => {
    const old = await h.openReading();
    start({ maxConnectionAgeMs: 2_500 });

    await advance(2_400);
    expect(old.connection.closed).toBe(false);
    await advance(200); // the tick at 2600 is the first past the age

    expect(old.connection.closeReason).toBe('max_age');
    expect(old.connection.signal.aborted).toBe(true);
    expect(old.connection.signal.reason).toBe('max_age');
    expect(h.registry.size).toBe(0);
    expect(await old.ended).toBe('end');
    expect(old.text()).toBe(`: ping\n\n: ping\n\nretry: ${RETRY_MS}\n\n`);
    const closed = h.logsOf('connection.closed');
    expect(closed.map((l) => l.reason)).toEqual(['max_age']);
    expect(closed[0]).toMatchObject({ connection_id: old.connection.id, pings_sent: 2 });
  });

  it('closes a stream whose send buffer never drains with `slow_consumer` after maxPingFailures', async () => {
    const stalled = await h.openStalled();
    const reading = await h.openReading();
    start({ maxPingFailures: 3 });

    stalled.connection.write(BIG_FRAME);
    expect(stalled.connection.bufferedBytes).toBeGreaterThan(0);

    await advance(PING_MS);
    expect(stalled.connection.consecutiveFailures).toBe(1);
    expect(stalled.connection.pingsSent).toBe(0);
    await advance(PING_MS);
    expect(stalled.connection.consecutiveFailures).toBe(2);
    expect(stalled.connection.closed).toBe(false);
    await advance(PING_MS);

    expect(stalled.connection.closeReason).toBe('slow_consumer');
    expect(stalled.connection.signal.reason).toBe('slow_consumer');
    expect(h.registry.get(stalled.connection.id)).toBeUndefined();
    // The healthy stream beside it was pinged every interval and stays open.
    expect(reading.connection.pingsSent).toBe(3);
    expect(reading.connection.closed).toBe(false);

    const failed = h.logsOf('connection.ping_failed');
    expect(failed.map((l) => l.consecutive_failures)).toEqual([1, 2, 3]);
    expect(failed.every((l) => l.connection_id === stalled.connection.id)).toBe(true);
    const closed = h.logsOf('connection.closed');
    expect(closed.map((l) => l.reason)).toEqual(['slow_consumer']);

    // A client that does not read cannot take a graceful end: the socket and
    // its buffered megabytes must be released now, not when the peer reads.
    expect(stalled.serverSocket.destroyed).toBe(true);
    expect(stalled.connection.bufferedBytes).toBe(0);
    const clientClosed = once(stalled.client, 'close');
    stalled.client.resume();
    await clientClosed;
  });

  it('resets the failure count once a backed-up buffer drains', async () => {
    const slow = await h.openStalled();
    start({ maxPingFailures: 2 });
    slow.connection.write(BIG_FRAME);

    await advance(PING_MS);
    expect(slow.connection.consecutiveFailures).toBe(1);

    slow.client.on('data', () => {});
    slow.client.resume();
    await slow.connection.whenDrained();
    expect(slow.connection.bufferedBytes).toBe(0);

    await advance(PING_MS);
    expect(slow.connection.closed).toBe(false);
    expect(slow.connection.consecutiveFailures).toBe(0);
    expect(slow.connection.pingsSent).toBe(1);
  });

  it('resets backlog failures of a probing stream too once its buffer drains, though it is never pinged', async () => {
    const slow = await h.openStalled({ pingRequest: (id) => `data: {"id":"${id}"}\n\n` });
    start({ maxPingFailures: 2 });
    slow.connection.write(BIG_FRAME);

    await advance(PING_MS);
    expect(slow.connection.consecutiveFailures).toBe(1);

    slow.client.on('data', () => {});
    slow.client.resume();
    await slow.connection.whenDrained();
    // Kept busy, the stream is never idle long enough for a liveness ping and its reply.
    slow.connection.write('data: busy\n\n');
    await advance(PING_MS / 2);
    expect(slow.connection.outstandingPing).toBeUndefined();
    expect(slow.connection.consecutiveFailures).toBe(0);
  });

  it('leaves a closed stream that still sends its last bytes to the close grace: no pings, no failures', async () => {
    start();
    const stalled = await h.openStalled();
    stalled.connection.write(BIG_FRAME);
    stalled.connection.close('max_age');
    const pings = stalled.connection.pingsSent;

    await advance(5 * PING_MS);

    // Still counted by the caps, but nothing more is written to it or counted against it.
    expect(h.registry.size).toBe(1);
    expect(stalled.connection.pingsSent).toBe(pings);
    expect(h.logsOf('connection.ping_failed')).toHaveLength(0);
    expect(h.logsOf('connection.closed').map((l) => l.reason)).toEqual(['max_age']);
    vi.useRealTimers();
    await once(stalled.serverSocket, 'close');
    expect(h.registry.size).toBe(0);
  });

  it('keeps a single timer however often start() is called, and stop() leaves none', async () => {
    await h.openReading();
    expect(vi.getTimerCount()).toBe(0);
    const s = start();
    s.start();
    s.start();
    expect(s.running).toBe(true);
    expect(vi.getTimerCount()).toBe(1);

    vi.advanceTimersByTime(3 * PING_MS);
    s.stop();
    expect(s.running).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    s.stop();
    expect(vi.getTimerCount()).toBe(0);

    const tick = vi.spyOn(s, 'tick');
    vi.advanceTimersByTime(10 * PING_MS);
    expect(tick).not.toHaveBeenCalled();
  });
});
