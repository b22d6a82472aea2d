// Scenario 1: a client that disconnects normally (SIGTERM: it closes its
// sockets and exits) or abruptly (SIGKILL), holding one stream of every
// transport with tool calls in flight.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, poll } from '../support/process.js';
import { getHeaders } from '../support/rpc.js';
import { type StreamSpec, spawnHolder } from './support/holder.js';
import {
  baseline,
  http,
  leftovers,
  liveConnections,
  metric,
  metrics,
  sessionStatus,
} from './support/probe.js';
import { record } from './support/results.js';
import { type ChaosServer, closedLine, startServer } from './support/server.js';
import { KIND_LABEL, matchConnections } from './support/streams.js';

/** Kill → release. Socket events take milliseconds; this leaves room for a loaded 2-core box. */
const RELEASE_BOUND_MS = 1_000;
const IDLE_TTL_MS = 1_000;
const PING_INTERVAL_MS = 1_000;
/** The idle sweep runs on the scheduler tick (a fifth of the ping interval). */
const TICK_MS = PING_INTERVAL_MS / 5;

let server: ChaosServer;

beforeAll(async () => {
  server = await startServer('01-disconnect', [
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

function streamsFor(tag: string): StreamSpec[] {
  const countdown = (seconds: number, stepMs: number, who: string) => ({
    name: 'countdown',
    arguments: { seconds, stepMs, tag: `${tag}-${who}` },
  });
  return [
    { kind: 'get' },
    { kind: 'post', tool: countdown(4, 300, 'post') },
    { kind: 'modern', tool: countdown(60, 200, 'modern') },
    { kind: 'listen' },
    { kind: 'legacy', tool: countdown(60, 200, 'legacy') },
    { kind: 'seed', tool: countdown(60, 200, 'seed') },
  ];
}

describe.each([
  ['SIGTERM', 'normal disconnect: the client closes its sockets and exits'],
  ['SIGKILL', 'abrupt disconnect: the client dies'],
] as const)('%s (%s)', (signal, _meaning) => {
  it('releases every stream at once; stream-bound sessions and their calls end with it; 2025-era sessions end at their idle TTL and then answer 404', async () => {
    const base = await baseline(server);
    const holder = spawnHolder({ base: server.url, streams: streamsFor(signal) });
    const opened = async () => {
      const streams = await holder.ready;
      expect(streams.map((s) => s.status)).toEqual([200, 200, 200, 200, 200, 200]);
      const matched = matchConnections(streams, await liveConnections(server));
      expect(matched.size).toBe(6);
      const sessionsBefore = metric(await metrics(server), 'mcp_tether_sessions_active');
      expect(sessionsBefore).toBe(4); // two 2025-era sessions, one legacy, one seed
      return { streams, matched };
    };
    // A failure before the signal must not leave this holder's streams to the next case.
    const { streams, matched } = await opened().catch((err: unknown) => {
      holder.signal('SIGKILL');
      throw err;
    });

    const killedAt = holder.signal(signal);
    const exit = await holder.exited;
    if (signal === 'SIGTERM') expect(exit.code).toBe(0);
    else expect(exit.signal).toBe('SIGKILL');

    // Every stream: closed once, as client_disconnect, at once.
    const release: Record<string, number> = {};
    for (const s of streams) {
      const line = await closedLine(server, matched.get(s.i)!.id);
      expect(line.reason).toBe('client_disconnect');
      release[KIND_LABEL[s.kind]] = line.t - killedAt;
    }
    for (const ms of Object.values(release)) expect(ms).toBeLessThan(RELEASE_BOUND_MS);
    expect(await liveConnections(server)).toEqual([]);
    const m = await metrics(server);
    expect(metric(m, 'mcp_tether_connections_active')).toBe(0);

    // Sessions tied to their stream are gone with it, and their calls aborted.
    expect(metric(m, 'mcp_tether_sessions_active')).toBe(2);
    const aborted: Record<string, number> = {};
    for (const who of ['modern', 'legacy', 'seed']) {
      const event = await poll(
        () => server.toolEvents().find((e) => e.tag === `${signal}-${who}` && e.event === 'abort'),
        RELEASE_BOUND_MS,
        `the ${who} countdown to be aborted`,
      );
      aborted[who] = event.at - killedAt;
      expect(aborted[who]).toBeLessThan(RELEASE_BOUND_MS);
    }

    // 2025-era: a disconnect is not a cancellation; the call finishes, the
    // sessions live until idle for their TTL, then answer 404.
    const [get, post] = [streams[0]!, streams[1]!];
    const finished = await poll(
      () => server.toolEvents().find((e) => e.tag === `${signal}-post` && e.event === 'finish'),
      5_000,
      'the 2025-era countdown to finish',
    );
    expect(server.toolEvents().some((e) => e.tag === `${signal}-post` && e.event === 'abort')).toBe(false);
    const closedSession = (id: string) =>
      server.waitForLog(
        (l) => l.msg === 'session.closed' && l.session_id === id,
        IDLE_TTL_MS + 5_000,
        `session.closed of ${id}`,
      );
    const getClosed = await closedSession(get.sessionId!);
    const postClosed = await closedSession(post.sessionId!);
    expect(getClosed.reason).toBe('idle_timeout');
    expect(postClosed.reason).toBe('idle_timeout');
    const getTtl = getClosed.t - killedAt;
    const postTtl = postClosed.t - finished.at;
    for (const ttl of [getTtl, postTtl]) {
      expect(ttl).toBeGreaterThanOrEqual(IDLE_TTL_MS);
      expect(ttl).toBeLessThan(IDLE_TTL_MS + TICK_MS + RELEASE_BOUND_MS);
    }
    for (const id of [get.sessionId!, post.sessionId!]) {
      expect(await sessionStatus(server, id)).toBe(404);
      const resume = await http(`${server.url}/mcp`, { headers: getHeaders(id) });
      expect(resume.status).toBe(404);
    }

    // Nothing left behind: connections, sessions, sockets, timers, handles.
    const leaked = await leftovers(server, base);
    expect(leaked).toEqual({ connections: 0, sessions: 0, sockets: 0, timers: 0, handles: 0 });
    record('1-disconnect', signal, {
      releaseMs: release,
      toolAbortMs: aborted,
      idleTtlMs: { '2025 GET session (after kill)': getTtl, '2025 POST session (after its call)': postTtl },
      leaked,
    });
  });
});
