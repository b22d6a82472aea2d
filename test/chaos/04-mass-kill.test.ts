// Scenario 4: five client processes hold 510 streams across every transport
// (2025 GET + POST with calls in flight, 2026-07-28 requests and listens,
// HTTP+SSE and seed streams with calls in flight) and are SIGKILLed
// together. Everything must come back to the baseline taken before: registry,
// sessions, TCP sockets, timers, handles, listeners, and the heap after GC.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, poll } from '../support/process.js';
import type { DebugMemory } from './fixtures/chaos-tools.js';
import { type Holder, type StreamSpec, spawnHolder } from './support/holder.js';
import {
  baseline,
  debugMemory,
  leftovers,
  liveConnections,
  metric,
  metrics,
  rssMiB,
  tcpSockets,
} from './support/probe.js';
import { record, resultsDir, stats } from './support/results.js';
import { type ChaosServer, startServer } from './support/server.js';

const HOLDERS = 5;
const GROUPS_PER_HOLDER = 17;
/** One stream of each kind; the POST shares the GET's session. */
const GROUP = 6;
const TOTAL = HOLDERS * GROUPS_PER_HOLDER * GROUP;
const IDLE_TTL_MS = 3_000;
const RELEASE_BOUND_MS = 2_000;
/** The 2025-era calls outlive the kill (a disconnect is not a cancellation) until released. */
const POST_STEP_MS = 250;

let server: ChaosServer;

beforeAll(async () => {
  server = await startServer('04-mass-kill', ['--idle-timeout', `${IDLE_TTL_MS}ms`, '--ping-interval', '2s']);
});

afterAll(async () => {
  await server?.stop();
  await killAll();
});

/** Once this file exists, the 2025-era calls of the round named `round` finish. */
const releaseFile = (round: string) => join(resultsDir(), `04-release-${round}`);

function groups(prefix: string, count: number): StreamSpec[] {
  const long = (who: string, g: number) => ({
    name: 'countdown',
    arguments: { seconds: 600, stepMs: 250, tag: `${prefix}-${who}-${g}` },
  });
  const out: StreamSpec[] = [];
  for (let g = 0; g < count; g++) {
    const get = out.length;
    out.push(
      { kind: 'get' },
      {
        kind: 'post',
        sessionOf: get,
        tool: {
          name: 'countdown',
          arguments: {
            seconds: 600,
            stepMs: POST_STEP_MS,
            tag: `${prefix}-post-${g}`,
            releaseFile: releaseFile(prefix.replace(/\d+$/, '')),
          },
        },
      },
      { kind: 'modern', tool: long('modern', g) },
      { kind: 'listen' },
      { kind: 'legacy', tool: long('legacy', g) },
      { kind: 'seed', tool: long('seed', g) },
    );
  }
  return out;
}

async function openAll(prefix: string, count: number, groupsEach: number): Promise<Holder[]> {
  const holders = Array.from({ length: count }, (_, h) =>
    spawnHolder({ base: server.url, concurrency: 6, streams: groups(`${prefix}${h}`, groupsEach) }, 60_000),
  );
  for (const h of holders) {
    const streams = await h.ready;
    expect(streams.filter((s) => s.status !== 200)).toEqual([]);
  }
  return holders;
}

/** Waits until every session is gone (the 2025-era ones after their calls end and their TTL). */
function allSessionsGone(timeoutMs: number) {
  return poll(
    async () => (metric(await metrics(server), 'mcp_tether_sessions_active') === 0 ? true : undefined),
    timeoutMs,
    'every session to end',
    100,
  );
}

const MiB = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

describe(`${TOTAL} streams across every transport, their clients SIGKILLed together`, () => {
  it('leave nothing behind: registry, sessions, sockets, timers, handles, listeners, heap', async () => {
    // Warm-up round, so code loaded and compiled on first use is not counted as a leak.
    const warm = await openAll('warm', 1, GROUPS_PER_HOLDER);
    warm[0]!.signal('SIGKILL');
    await warm[0]!.exited;
    await poll(
      async () => ((await liveConnections(server)).length === 0 ? true : undefined),
      5_000,
      'warm-up',
    );
    writeFileSync(releaseFile('warm'), '');
    await allSessionsGone(POST_STEP_MS + IDLE_TTL_MS + 5_000);

    const base = await baseline(server);
    const rssBefore = rssMiB(server.pid);
    const handlesMetricBefore = metric(await metrics(server), 'mcp_tether_nodejs_active_handles_total');

    const openedAt = Date.now();
    const holders = await openAll('h', HOLDERS, GROUPS_PER_HOLDER);
    const openMs = Date.now() - openedAt;
    const live = await liveConnections(server);
    expect(live.length).toBe(TOTAL);
    const m = await metrics(server);
    expect(metric(m, 'mcp_tether_sessions_active')).toBe((TOTAL / GROUP) * 3);
    expect(tcpSockets(server.pid, server.port)).toBeGreaterThanOrEqual(TOTAL + base.sockets);
    const rssLoaded = rssMiB(server.pid);
    const ids = new Set(live.map((c) => c.id));

    // Kill every holder at once.
    const killedAt = Date.now();
    for (const h of holders) h.signal('SIGKILL');
    for (const h of holders) expect((await h.exited).signal).toBe('SIGKILL');
    // When the parent saw the last of them gone: teardown of five processes and
    // their sockets on two cores is part of every release time below.
    const exitedMs = Date.now() - killedAt;

    const emptyAt = await poll(
      async () => ((await liveConnections(server)).length === 0 ? Date.now() : undefined),
      RELEASE_BOUND_MS + 5_000,
      'the registry to empty',
    );
    const socketsAt = await poll(
      () => (tcpSockets(server.pid, server.port) <= base.sockets ? Date.now() : undefined),
      5_000,
      'the server sockets to go back to the baseline',
      10,
    );
    // The log lines may trail the registry through the pipe; the times in them do not.
    const closed = await poll(
      () => {
        const lines = server.logsOf('connection.closed').filter((l) => ids.has(String(l.connection_id)));
        return lines.length >= TOTAL ? lines : undefined;
      },
      10_000,
      'every connection.closed line',
    );
    expect(closed.length).toBe(TOTAL);
    expect(new Set(closed.map((l) => l.reason))).toEqual(new Set(['client_disconnect']));
    const release = closed.map((l) => l.t - killedAt);
    expect(Math.max(...release)).toBeLessThan(RELEASE_BOUND_MS);

    // Stream-bound calls aborted at once; the 2025-era ones finish, then their sessions go.
    const events = () => server.toolEvents().filter((e) => e.tag.startsWith('h'));
    const aborts = await poll(
      () => {
        const found = events().filter((e) => e.event === 'abort' && e.at >= killedAt);
        return found.length >= (TOTAL / GROUP) * 3 ? found : undefined;
      },
      RELEASE_BOUND_MS + 5_000,
      'every stream-bound call to be aborted',
    );
    const abortMs = aborts.map((e) => e.at - killedAt);
    expect(Math.max(...abortMs)).toBeLessThan(RELEASE_BOUND_MS);
    expect(aborts.every((e) => !e.tag.includes('-post-'))).toBe(true);
    expect(metric(await metrics(server), 'mcp_tether_sessions_active')).toBe(TOTAL / GROUP);
    const releasedAt = Date.now();
    writeFileSync(releaseFile('h'), '');
    await allSessionsGone(POST_STEP_MS + IDLE_TTL_MS + 5_000);
    const sessionsGoneMs = Date.now() - releasedAt;
    const postFinished = events().filter(
      (e) => e.event === 'finish' && e.tag.includes('-post-') && e.at >= killedAt,
    );
    expect(postFinished.length).toBe(TOTAL / GROUP);

    // Back to the baseline, once the GC has run.
    const leaked = await leftovers(server, base);
    const after: DebugMemory = await debugMemory(server);
    const rssAfter = rssMiB(server.pid);
    const handlesMetricAfter = metric(await metrics(server), 'mcp_tether_nodejs_active_handles_total');
    const heapGrowth = after.memory.heapUsed / base.memory.memory.heapUsed - 1;
    expect(leaked).toEqual({ connections: 0, sessions: 0, sockets: 0, timers: 0, handles: 0 });
    expect(after.processListeners).toBe(base.memory.processListeners);
    expect(total(after.resources)).toBe(total(base.memory.resources));
    expect(handlesMetricAfter).toBe(handlesMetricBefore);
    expect(heapGrowth).toBeLessThan(0.1);

    record('4-mass-kill', 'run', {
      streams: TOTAL,
      holders: HOLDERS,
      openMs,
      holdersExitedMs: exitedMs,
      releaseMs: stats(release),
      registryEmptyMs: emptyAt - killedAt,
      sessionsGoneAfterCallsEndMs: sessionsGoneMs,
      socketsBaselineMs: socketsAt - killedAt,
      toolAbortMs: stats(abortMs),
      leaked: { ...leaked, listeners: after.processListeners - base.memory.processListeners },
      heapMiB: {
        before: MiB(base.memory.memory.heapUsed),
        after: MiB(after.memory.heapUsed),
        growthPct: Math.round(heapGrowth * 1000) / 10,
      },
      rssMiB: {
        before: Math.round(rssBefore.rss),
        loaded: Math.round(rssLoaded.rss),
        peak: Math.round(rssAfter.peak),
        after: Math.round(rssAfter.rss),
      },
      handles: { before: handlesMetricBefore, after: handlesMetricAfter },
      timers: { before: base.memory.timers, after: after.timers },
    });
  });
});
