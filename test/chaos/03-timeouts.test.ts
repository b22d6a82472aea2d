// Scenario 3: lifetime limits with short settings. Every stream is closed at
// its maximum age with a `retry` hint (the seed endpoint: `event: close` with
// the reason); resumable streams resume with Last-Event-ID and lose nothing;
// a session kept busy by resuming clients outlives the short idle TTL, one
// left alone is freed by it, one deleted ends with its stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, poll } from '../support/process.js';
import { type HolderLine, spawnHolder } from './support/holder.js';
import {
  baseline,
  leftovers,
  liveConnections,
  metric,
  metrics,
  sessionStatus,
  syncLogs,
} from './support/probe.js';
import { record, stats } from './support/results.js';
import { type ChaosServer, startServer } from './support/server.js';

const MAX_AGE_MS = 1_000;
const IDLE_TTL_MS = 2_000;
const PING_INTERVAL_MS = 500;
const TICK_MS = PING_INTERVAL_MS / 5;
const MARGIN_MS = 500;
const STEPS = 24;
const STEP_MS = 250;

let server: ChaosServer;

beforeAll(async () => {
  server = await startServer('03-timeouts', [
    '--max-connection-age',
    `${MAX_AGE_MS}ms`,
    '--idle-timeout',
    `${IDLE_TTL_MS}ms`,
    '--ping-interval',
    `${PING_INTERVAL_MS}ms`,
  ]);
});

afterAll(async () => {
  await server?.stop();
  await killAll();
});

const range = (n: number) => Array.from({ length: n }, (_, k) => k + 1);

describe('maximum age and idle TTL', () => {
  it('close every stream with a retry hint; resumed streams lose no event; busy sessions outlive the idle TTL, idle ones do not', async () => {
    const base = await baseline(server);
    const holder = spawnHolder({
      base: server.url,
      streams: [
        {
          kind: 'post',
          resume: true,
          tool: { name: 'countdown', arguments: { seconds: STEPS, stepMs: STEP_MS, tag: 'max-age-post' } },
        },
        {
          kind: 'get',
          resume: true,
          call: { name: 'ticker', arguments: { count: STEPS, intervalMs: STEP_MS } },
        },
        { kind: 'listen', resume: true, maxResumes: 1 },
        { kind: 'seed' },
        { kind: 'legacy' },
      ],
    });
    try {
      const opened = await holder.ready;
      expect(opened.map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
      const [post, get] = opened;

      // The call's progress and result arrive exactly once, in order, across resumed connections.
      const postDone = await holder.line((l) => l.type === 'done' && l.i === 0, 15_000, 'the countdown');
      expect(postDone.result).toBe('ok');
      expect(postDone.progress).toEqual(range(STEPS));
      expect(postDone.resumes as number).toBeGreaterThanOrEqual(2);
      // Notifications outside any request, on the standalone stream: the same.
      const getDone = await holder.line((l) => l.type === 'done' && l.i === 1, 15_000, 'the ticks');
      expect(getDone.ticks).toEqual(range(STEPS));
      expect(getDone.resumes as number).toBeGreaterThanOrEqual(2);

      const endedOf = (i: number) => holder.lines.filter((l) => l.type === 'ended' && l.i === i);
      for (const i of [0, 1]) {
        // Every end but the post stream's last (its result) is a max_age close with the retry hint.
        const ends = endedOf(i).slice(0, i === 0 ? -1 : undefined);
        expect(ends.length).toBeGreaterThanOrEqual(2);
        for (const e of ends) expect(e).toMatchObject({ how: 'end', retry: 1_000 });
      }
      const listenEnd = await holder.line((l) => l.type === 'ended' && l.i === 2, 5_000, 'listen end');
      expect(listenEnd).toMatchObject({ how: 'end', retry: 1_000 });
      const listenBack = await holder.line((l) => l.type === 'resumed' && l.i === 2, 5_000, 'listen again');
      expect(listenBack.status).toBe(200);
      const seedEnd = await holder.line((l) => l.type === 'ended' && l.i === 3, 5_000, 'seed end');
      expect(seedEnd).toMatchObject({ how: 'end', retry: 1_000, closeEvent: { reason: 'max_age' } });
      const legacyEnd = await holder.line((l) => l.type === 'ended' && l.i === 4, 5_000, 'legacy end');
      expect(legacyEnd).toMatchObject({ how: 'end', retry: 1_000 });

      // Each max_age close came on time.
      await syncLogs(server);
      const maxAged = server.logsOf('connection.closed').filter((l) => l.reason === 'max_age');
      const ages = maxAged.map((l) => Number(l.uptime_ms));
      for (const age of ages) {
        expect(age).toBeGreaterThanOrEqual(MAX_AGE_MS);
        expect(age).toBeLessThan(MAX_AGE_MS + TICK_MS + MARGIN_MS);
      }
      const transports = new Set(maxAged.map((l) => `${l.transport}/${l.stream}`));
      expect([...transports].sort()).toEqual([
        'http-sse/session',
        'seed-sse/session',
        'streamable-http/listen',
        'streamable-http/response',
        'streamable-http/standalone',
      ]);
      // The stream-bound sessions ended with their streams.
      const sessionsNow = metric(await metrics(server), 'mcp_tether_sessions_active');
      expect(sessionsNow).toBe(2);

      // The busy 2025-era sessions were never idle long enough to be freed.
      const closedSession = (id: string) =>
        server.logsOf('session.closed').filter((l) => l.session_id === id);
      expect(closedSession(post!.sessionId!)).toEqual([]);
      expect(closedSession(get!.sessionId!)).toEqual([]);

      // DELETE ends the other session and the stream it has open (once the resumed
      // stream is gone, so the new one is the session's only standalone stream).
      const doneAt = holder.lines.indexOf(getDone);
      await holder.line(
        (l) => l.type === 'ended' && l.i === 1 && holder.lines.indexOf(l) > doneAt,
        MAX_AGE_MS + 2_000,
        'the last standalone stream to end',
      );
      holder.send({ cmd: 'open', stream: { kind: 'get', sessionOf: 1 } });
      const again = await holder.line((l) => l.type === 'opened' && l.i === 5, 5_000, 'a new GET stream');
      const streamId = (await liveConnections(server)).find(
        (c) => c.session_id === get!.sessionId && c.stream === 'standalone',
      )?.id;
      holder.send({ cmd: 'delete', i: again.i });
      const deleted = await holder.line((l) => l.type === 'deleted', 5_000, 'DELETE');
      expect(deleted.status).toBe(200);
      const ended: HolderLine = await holder.line((l) => l.type === 'ended' && l.i === 5, 5_000, 'end');
      expect(ended).toMatchObject({ how: 'end', retry: 1_000 });
      await server.waitForLog(
        (l) => l.msg === 'session.closed' && l.session_id === get!.sessionId,
        5_000,
        'the deleted session to close',
      );
      const deletedLines = server.logs.filter(
        (l) =>
          (l.msg === 'session.closed' && l.session_id === get!.sessionId) ||
          (l.msg === 'connection.closed' && l.connection_id === streamId),
      );
      expect(deletedLines.map((l) => [l.msg, l.reason])).toEqual([
        ['connection.closed', 'session_deleted'],
        ['session.closed', 'session_deleted'],
      ]);

      // Left alone, the post stream's session is freed one TTL after its last stream closed.
      const lastClose = server
        .logsOf('connection.closed')
        .filter((l) => l.session_id === post!.sessionId)
        .at(-1)!;
      const freed = await server.waitForLog(
        (l) => l.msg === 'session.closed' && l.session_id === post!.sessionId,
        IDLE_TTL_MS + 3_000,
        'the idle session to be freed',
      );
      expect(freed.reason).toBe('idle_timeout');
      const idleMs = freed.t - lastClose.t;
      expect(idleMs).toBeGreaterThanOrEqual(IDLE_TTL_MS);
      expect(idleMs).toBeLessThan(IDLE_TTL_MS + TICK_MS + MARGIN_MS);
      expect(await sessionStatus(server, post!.sessionId!)).toBe(404);

      record('3-timeouts', 'maxAge', {
        closes: maxAged.length,
        uptimeMs: stats(ages),
        overshootMs: stats(ages.map((a) => a - MAX_AGE_MS)),
        resumes: { '2025 POST': postDone.resumes, '2025 GET': getDone.resumes },
        eventsLost: 0,
        duplicates: 0,
      });
      record('3-timeouts', 'idleTtl', { freedAfterMs: idleMs, ttlMs: IDLE_TTL_MS });
    } finally {
      holder.signal('SIGKILL');
    }
    await holder.exited;
    await poll(
      async () => (metric(await metrics(server), 'mcp_tether_sessions_active') === 0 ? true : undefined),
      5_000,
      'every session to end',
    );
    const leaked = await leftovers(server, base);
    expect(leaked).toEqual({ connections: 0, sessions: 0, sockets: 0, timers: 0, handles: 0 });
    record('3-timeouts', 'leaked', leaked);
  });
});
