// Scenario 5: a live client that stops reading while a tool floods its stream
// with notifications (seed endpoint, 2025-era POST stream, 2026-07-28
// request). The server must close each as slow_consumer while the flood is
// still running, and its memory must stay bounded and come back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, poll, sleep } from '../support/process.js';
import { spawnHolder } from './support/holder.js';
import { baseline, debugMemory, leftovers, liveConnections, rssMiB } from './support/probe.js';
import { record } from './support/results.js';
import { type ChaosServer, closedLine, startServer } from './support/server.js';
import { KIND_LABEL, matchConnections } from './support/streams.js';

const PING_INTERVAL_MS = 500;
const MAX_FAILURES = 3;
const BYTES = 4_096;
const PER_TICK = 20;
const TICK_MS = 10;
/** Bytes per second each flood produces (~8 MiB/s). */
const RATE = (BYTES * PER_TICK * 1_000) / TICK_MS;
/** Notifications per flood: 100 MiB each if nothing stopped it. */
const MAX = 25_600;
/** From the client's last read to the close: kernel buffers filling, then failures × interval, then a tick and a loaded box. */
const WINDOW_MS = 1_000 + (MAX_FAILURES + 1) * PING_INTERVAL_MS + 1_000;

let server: ChaosServer;

beforeAll(async () => {
  server = await startServer('05-slow-consumer', [
    '--ping-interval',
    `${PING_INTERVAL_MS}ms`,
    '--max-ping-failures',
    String(MAX_FAILURES),
  ]);
});

afterAll(async () => {
  await server?.stop();
  await killAll();
});

const flood = (tag: string, max = MAX) => ({
  name: 'flood',
  arguments: { bytes: BYTES, perTick: PER_TICK, tickMs: TICK_MS, max, tag },
});

/** A short flood to a reading client on every transport, so first-use costs are not counted. */
async function warmUp(): Promise<void> {
  const holder = spawnHolder({
    base: server.url,
    streams: [
      { kind: 'seed', tool: flood('warm-seed', 400), flood: true },
      { kind: 'post', tool: flood('warm-post', 400), flood: true },
      { kind: 'modern', tool: flood('warm-modern', 400), flood: true },
    ],
  });
  try {
    await holder.ready;
    await poll(
      () => (server.toolEvents().filter((e) => e.event === 'finish').length === 3 ? true : undefined),
      10_000,
      'the warm-up floods to finish',
    );
    holder.send({ cmd: 'delete', i: 1 });
    await holder.line((l) => l.type === 'deleted', 5_000, 'DELETE');
  } finally {
    holder.signal('SIGKILL');
  }
  await holder.exited;
  await poll(async () => ((await liveConnections(server)).length === 0 ? true : undefined), 5_000, 'warm-up');
}
const MiB = (n: number) => Math.round(n * 10) / 10;

describe('a client that stops reading a flooded stream', () => {
  it('is closed as slow_consumer while the flood runs, on every transport; RSS stays bounded and the heap comes back', async () => {
    await warmUp();
    const base = await baseline(server);
    const rssBefore = rssMiB(server.pid).rss;
    const holder = spawnHolder({
      base: server.url,
      streams: [
        { kind: 'seed', tool: flood('seed'), flood: true },
        { kind: 'post', tool: flood('post'), flood: true },
        { kind: 'modern', tool: flood('modern'), flood: true },
      ],
    });
    let peakRss = rssBefore;
    let maxBuffered = 0;
    let sampling = true;
    const samplingEnds = Date.now() + 60_000;
    const sampler = (async () => {
      while (sampling && Date.now() < samplingEnds) {
        peakRss = Math.max(peakRss, rssMiB(server.pid).rss);
        await sleep(20);
      }
    })();
    let watch: Promise<void> | undefined;
    try {
      const opened = await holder.ready;
      expect(opened.map((s) => s.status)).toEqual([200, 200, 200]);
      const matched = matchConnections(opened, await liveConnections(server));
      expect(matched.size).toBe(3);
      await sleep(2 * PING_INTERVAL_MS);
      expect((await liveConnections(server)).length).toBe(3);

      const pausedAt = Date.now();
      for (const s of opened) holder.send({ cmd: 'pause', i: s.i });
      watch = (async () => {
        const until = pausedAt + WINDOW_MS + 5_000;
        while (sampling && Date.now() < until) {
          const live = await liveConnections(server);
          if (live.length === 0) return;
          for (const c of live) maxBuffered = Math.max(maxBuffered, c.buffered_bytes);
          await sleep(50);
        }
      })();

      const closed: Record<string, number> = {};
      for (const s of opened) {
        const line = await closedLine(server, matched.get(s.i)!.id, WINDOW_MS + 5_000);
        expect(line.reason).toBe('slow_consumer');
        closed[KIND_LABEL[s.kind]] = line.t - pausedAt;
      }
      await watch;
      for (const ms of Object.values(closed)) expect(ms).toBeLessThan(WINDOW_MS);

      // Each was closed while its flood ran: the stream-bound ones were aborted
      // then; the 2025-era one runs on into its event store until the session ends.
      for (const tag of ['seed', 'modern']) {
        const end = await poll(
          () => server.toolEvents().find((e) => e.tag === tag && e.event !== 'start'),
          2_000,
          `the ${tag} flood to end`,
        );
        expect(end.event).toBe('abort');
        expect(end.sent!).toBeLessThan(MAX);
      }
      expect(server.toolEvents().some((e) => e.tag === 'post' && e.event !== 'start')).toBe(false);
      holder.send({ cmd: 'delete', i: 1 });
      const postEnd = await poll(
        () => server.toolEvents().find((e) => e.tag === 'post' && e.event !== 'start'),
        5_000,
        'the 2025-era flood to stop with its session',
      );
      expect(postEnd.event).toBe('abort');

      // Memory: what the server held was bounded by the detection window, not
      // by the flood (3 × 100 MiB had it run to the end), and is given back.
      sampling = false;
      await sampler;
      const after = await debugMemory(server);
      const rssAfter = rssMiB(server.pid);
      peakRss = Math.max(peakRss, rssAfter.peak);
      const windowBytes = 3 * RATE * (WINDOW_MS / 1_000);
      expect((peakRss - rssBefore) * 1024 * 1024).toBeLessThan(windowBytes * 2);
      expect(after.memory.heapUsed / base.memory.memory.heapUsed - 1).toBeLessThan(0.1);

      record('5-slow-consumer', 'run', {
        rateMiBps: MiB(RATE / 1024 / 1024),
        closedAfterPauseMs: closed,
        maxBufferedMiB: MiB(maxBuffered / 1024 / 1024),
        floodSent: Object.fromEntries(
          server
            .toolEvents()
            .filter((e) => e.event !== 'start')
            .map((e) => [e.tag, e.sent]),
        ),
        rssMiB: { before: MiB(rssBefore), peak: MiB(peakRss), after: MiB(rssAfter.rss) },
        heapMiB: {
          before: MiB(base.memory.memory.heapUsed / 1024 / 1024),
          after: MiB(after.memory.heapUsed / 1024 / 1024),
        },
      });
    } finally {
      sampling = false;
      // The buffer watcher stops with the sampling flag; a failed assert must not leave it polling.
      await watch?.catch(() => {});
      holder.signal('SIGKILL');
    }
    await holder.exited;
    const leaked = await leftovers(server, base);
    expect(leaked).toEqual({ connections: 0, sessions: 0, sockets: 0, timers: 0, handles: 0 });
    record('5-slow-consumer', 'leaked', leaked);
  });
});
