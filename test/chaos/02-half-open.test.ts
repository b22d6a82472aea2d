// Scenario 2: a half-open peer. The client process is SIGSTOPped while it
// holds a stream of every transport: its kernel keeps the TCP connections up,
// so only liveness can tell. Streams the server can ping (2025 GET, HTTP+SSE)
// must end as ping_timeout once the pings go unanswered; streams without a
// reply channel carry a notification flood and must end as slow_consumer once
// the buffers back up. After SIGCONT the client sees its streams closed and
// opens new ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, poll, sleep } from '../support/process.js';
import { type StreamSpec, spawnHolder } from './support/holder.js';
import { baseline, leftovers, liveConnections, syncLogs } from './support/probe.js';
import { record } from './support/results.js';
import { type ChaosServer, closedLine, startServer } from './support/server.js';
import { KIND_LABEL, matchConnections } from './support/streams.js';

const PING_INTERVAL_MS = 500;
const MAX_FAILURES = 3;
/** Scheduler tick, plus a loaded machine. */
const MARGIN_MS = 1_000;
/** A ping goes out one interval after the last traffic; each later interval without a reply is a failure. */
const PING_TIMEOUT_BOUND_MS = (MAX_FAILURES + 1) * PING_INTERVAL_MS + MARGIN_MS;
/** Kernel socket buffers on loopback take a few MB; at ~8 MB/s per stream they fill within about a second. */
const FILL_BOUND_MS = 3_000;

let server: ChaosServer;

beforeAll(async () => {
  server = await startServer('02-half-open', [
    '--ping-interval',
    `${PING_INTERVAL_MS}ms`,
    '--max-ping-failures',
    String(MAX_FAILURES),
    '--idle-timeout',
    '60s',
  ]);
});

afterAll(async () => {
  await server?.stop();
  await killAll();
});

/** ~8 MB/s of 4 KiB progress notifications, for at most 6 s. */
const flood = (tag: string) => ({
  name: 'flood',
  arguments: { bytes: 4_096, perTick: 20, tickMs: 10, max: 12_000, tag },
});

describe('a SIGSTOPped client', () => {
  it('is detected on every transport: ping_timeout where the server can ping, slow_consumer under a flood elsewhere; after SIGCONT it sees the streams closed and starts again', async () => {
    const base = await baseline(server);
    const streams: StreamSpec[] = [
      { kind: 'get' },
      { kind: 'legacy' },
      { kind: 'seed', tool: flood('seed'), flood: true },
      { kind: 'modern', tool: flood('modern'), flood: true },
      { kind: 'post', tool: flood('post'), flood: true },
    ];
    const holder = spawnHolder({ base: server.url, streams });
    try {
      const opened = await holder.ready;
      expect(opened.map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
      const matched = matchConnections(opened, await liveConnections(server));
      expect(matched.size).toBe(5);

      // A client that reads keeps up with the flood and answers its pings: nothing closes.
      await sleep(3 * PING_INTERVAL_MS);
      await syncLogs(server);
      expect(server.logsOf('connection.closed')).toEqual(
        server.logsOf('connection.closed').filter((l) => l.reason === 'completed'),
      );
      expect((await liveConnections(server)).length).toBe(5);

      const stoppedAt = holder.signal('SIGSTOP');
      const closed: Record<string, { reason: unknown; ms: number; afterFirstFailureMs?: number }> = {};
      for (const s of opened) {
        const id = matched.get(s.i)!.id;
        const line = await closedLine(server, id, FILL_BOUND_MS + PING_TIMEOUT_BOUND_MS + 5_000);
        const firstFailure = server.logs.find(
          (l) => l.msg === 'connection.ping_failed' && l.connection_id === id && l.t >= stoppedAt,
        );
        closed[KIND_LABEL[s.kind]] = {
          reason: line.reason,
          ms: line.t - stoppedAt,
          ...(firstFailure ? { afterFirstFailureMs: line.t - firstFailure.t } : {}),
        };
      }
      record('2-half-open', 'closed', closed);

      for (const kind of ['get', 'legacy'] as const) {
        const c = closed[KIND_LABEL[kind]]!;
        expect(c.reason).toBe('ping_timeout');
        expect(c.ms).toBeLessThan(PING_TIMEOUT_BOUND_MS);
      }
      for (const kind of ['seed', 'modern', 'post'] as const) {
        const c = closed[KIND_LABEL[kind]]!;
        expect(c.reason).toBe('slow_consumer');
        // Once the buffer stops draining, failures × interval (+ margin) close it.
        expect(c.afterFirstFailureMs).toBeLessThan(MAX_FAILURES * PING_INTERVAL_MS + MARGIN_MS);
        expect(c.ms).toBeLessThan(FILL_BOUND_MS + PING_TIMEOUT_BOUND_MS);
      }
      // Closed while the flood ran: the floods tied to their stream stop with it;
      // the 2025-era one goes on (a disconnect is not a cancellation) and ends later.
      for (const tag of ['seed', 'modern']) {
        await poll(
          () => server.toolEvents().find((e) => e.tag === tag && e.event === 'abort'),
          2_000,
          `the ${tag} flood to be aborted`,
        );
      }
      const postEnd = await poll(
        () => server.toolEvents().find((e) => e.tag === 'post' && e.event !== 'start'),
        10_000,
        'the 2025-era flood to end',
      );
      expect(postEnd.event).toBe('finish');
      expect(postEnd.at).toBeGreaterThan(stoppedAt + closed[KIND_LABEL.post]!.ms);

      holder.signal('SIGCONT');
      for (const s of opened) {
        const ended = await holder.line(
          (l) => l.type === 'ended' && l.i === s.i,
          10_000,
          `stream ${s.i} ended`,
        );
        if (s.kind === 'get' || s.kind === 'legacy') {
          // Closed gracefully: the client gets the retry hint, then a clean end.
          expect(ended.how).toBe('end');
          expect(ended.retry).toBe(1_000);
        }
      }

      // It starts again. The GET stream's session ended with it (unanswered pings mean the client
      // is gone), so the client initializes anew; the POST stream's session survived (a disconnect
      // is not a cancellation, idle TTL 60 s) and is reused.
      const again: StreamSpec[] = [
        { kind: 'get' },
        { kind: 'legacy' },
        { kind: 'seed' },
        { kind: 'listen' },
        { kind: 'post', sessionOf: 4, tool: { name: 'countdown', arguments: { seconds: 1, stepMs: 50 } } },
      ];
      for (const stream of again) holder.send({ cmd: 'open', stream });
      for (let i = 5; i < 10; i++) {
        const line = await holder.line(
          (l) => (l.type === 'opened' || l.type === 'refused') && l.i === i,
          10_000,
          `reopened stream ${i}`,
        );
        expect(line).toMatchObject({ type: 'opened', status: 200 });
      }
      holder.send({ cmd: 'delete', i: 5 });
      holder.send({ cmd: 'delete', i: 9 });
      for (const i of [5, 9]) {
        const deleted = await holder.line((l) => l.type === 'deleted' && l.i === i, 5_000, `DELETE ${i}`);
        expect(deleted.status).toBe(200);
      }
    } finally {
      holder.signal('SIGKILL');
    }
    await holder.exited;
    const leaked = await leftovers(server, base, 5_000);
    expect(leaked).toEqual({ connections: 0, sessions: 0, sockets: 0, timers: 0, handles: 0 });
    record('2-half-open', 'leaked', leaked);
  });
});
