// Scenario 6: the server process gets SIGTERM while tool calls are in flight
// and streams are open on every transport. Calls finish, every client gets
// its final event (a `retry` hint; the seed endpoint's `event: close` with
// reason shutdown), and the process exits 0 within the grace period. A second
// signal forces the exit.
import { afterAll, describe, expect, it } from 'vitest';
import { killAll } from '../support/process.js';
import { spawnHolder } from './support/holder.js';
import { liveConnections } from './support/probe.js';
import { record } from './support/results.js';
import { startServer } from './support/server.js';
import { KIND_LABEL, matchConnections } from './support/streams.js';

const GRACE_MS = 5_000;
const CALL = { seconds: 8, stepMs: 250 };

afterAll(async () => {
  await killAll();
});

const countdown = (tag: string) => ({ name: 'countdown', arguments: { ...CALL, tag } });

describe('SIGTERM to the server', () => {
  it('lets in-flight calls finish, gives every stream its final event and exits 0 within the grace period', async () => {
    const server = await startServer('06-shutdown', [
      '--shutdown-grace',
      `${GRACE_MS}ms`,
      '--ping-interval',
      '1s',
    ]);
    const holder = spawnHolder({
      base: server.url,
      streams: [
        { kind: 'get' },
        { kind: 'post', tool: countdown('post') },
        { kind: 'modern', tool: countdown('modern') },
        { kind: 'listen' },
        { kind: 'legacy', tool: countdown('legacy') },
        { kind: 'seed', tool: countdown('seed') },
      ],
    });
    try {
      const opened = await holder.ready;
      expect(opened.map((s) => s.status)).toEqual([200, 200, 200, 200, 200, 200]);
      const matched = matchConnections(opened, await liveConnections(server));
      expect(matched.size).toBe(6);

      const signalledAt = server.signal('SIGTERM');
      const exit = await server.exited;
      expect(exit.code).toBe(0);
      const exitMs = exit.at - signalledAt;
      expect(exitMs).toBeLessThan(GRACE_MS);
      expect(server.logsOf('server.grace_expired')).toEqual([]);
      expect(server.logsOf('server.closed')).toHaveLength(1);

      // Every call ran to its end.
      const events = server.toolEvents();
      for (const tag of ['post', 'modern', 'legacy', 'seed']) {
        expect(events.filter((e) => e.tag === tag).map((e) => e.event)).toEqual(['start', 'finish']);
      }
      // Every client got its result and its final event.
      const ended = Object.fromEntries(
        await Promise.all(
          opened.map(async (s) => [
            s.kind,
            await holder.line((l) => l.type === 'ended' && l.i === s.i, 5_000, `${s.kind} end`),
          ]),
        ),
      );
      for (const kind of ['post', 'modern', 'legacy', 'seed']) expect(ended[kind].result).toBe('ok');
      for (const kind of ['get', 'listen', 'legacy']) {
        expect(ended[kind]).toMatchObject({ how: 'end', lastFrame: { retry: 1_000 } });
      }
      expect(ended.seed).toMatchObject({ how: 'end', retry: 1_000, closeEvent: { reason: 'shutdown' } });
      expect(ended.seed.lastFrame).toMatchObject({ event: 'close' });

      const reasons: Record<string, unknown> = {};
      for (const s of opened) {
        const id = matched.get(s.i)!.id;
        reasons[KIND_LABEL[s.kind]] = server.logs.find(
          (l) => l.msg === 'connection.closed' && l.connection_id === id,
        )?.reason;
      }
      expect(reasons).toEqual({
        '2025 GET': 'shutdown',
        '2025 POST': 'completed',
        '2026-07-28 request': 'completed',
        '2026-07-28 listen': 'shutdown',
        'HTTP+SSE': 'shutdown',
        'seed /mcp/sse': 'shutdown',
      });
      const draining = server.logsOf('server.draining')[0]!;
      const closedAt = server.logsOf('server.closed')[0]!.t;
      record('6-shutdown', 'sigterm', {
        exitCode: exit.code,
        exitMs,
        graceMs: GRACE_MS,
        inFlightAtSignal: draining.in_flight,
        openAtSignal: draining.connections,
        drainMs: closedAt - draining.t,
        reasons,
      });
    } finally {
      holder.signal('SIGKILL');
      await server.stop();
    }
  });

  it('a second signal during the drain exits at once with status 1', async () => {
    const server = await startServer('06-forced', ['--shutdown-grace', '30s']);
    const holder = spawnHolder({
      base: server.url,
      streams: [{ kind: 'seed', tool: { name: 'countdown', arguments: { seconds: 60, stepMs: 250 } } }],
    });
    try {
      await holder.ready;
      server.signal('SIGTERM');
      await server.waitForLog((l) => l.msg === 'server.draining', 5_000, 'the drain to start');
      const secondAt = server.signal('SIGINT');
      const exit = await server.exited;
      expect(exit.code).toBe(1);
      expect(exit.at - secondAt).toBeLessThan(1_000);
      expect(server.logsOf('server.forced_exit')).toHaveLength(1);
      const ended = await holder.line((l) => l.type === 'ended', 5_000, 'the stream to end');
      expect(ended.result).toBeUndefined();
      record('6-shutdown', 'secondSignal', { exitCode: exit.code, exitMs: exit.at - secondAt });
    } finally {
      holder.signal('SIGKILL');
      await server.stop();
    }
  });
});
