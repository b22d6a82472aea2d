import { HttpConnection } from '../lib/http-client.js';
import { sleep } from '../lib/proc.js';
import { checkEchoReply, echoCallBody, sessionHeaders } from '../lib/protocol.js';
import { marks, type RunningServer, type ServerName, startServer, stats } from '../lib/servers.js';
import { StreamsClient } from '../lib/streams-client.js';
import type { StreamKind } from '../streams.js';

/** A stream kind whose release the bench times after the client goes away. */
export interface DisconnectTarget {
  id: string;
  label: string;
  server: ServerName;
  kind: StreamKind;
}

export const DISCONNECT_TARGETS: DisconnectTarget[] = [
  { id: 'tether', label: 'mcp-tether, 2025-11-25 GET stream', server: 'tether', kind: 'session-get' },
  { id: 'tether-listen', label: 'mcp-tether, 2026-07-28 listen stream', server: 'tether', kind: 'listen' },
  { id: 'sdk1', label: 'SDK 1.x Streamable HTTP, GET stream', server: 'sdk1', kind: 'session-get' },
  { id: 'sdk2', label: 'SDK v2 createMcpHandler, listen stream', server: 'sdk2', kind: 'listen' },
];

/** Servers whose 2026-07-28 tool calls are timed from the client's FIN to the handler's abort. */
export const ABORT_TARGETS: Array<{ id: string; label: string; server: ServerName }> = [
  { id: 'tether', label: 'mcp-tether', server: 'tether' },
  { id: 'sdk2', label: 'SDK v2 createMcpHandler', server: 'sdk2' },
];

/** Servers the SIGKILL storm runs against. */
export const STORM_TARGETS: Array<{ id: string; label: string; server: ServerName }> = [
  { id: 'tether', label: 'mcp-tether (idle TTL 2 s)', server: 'tether' },
  { id: 'sdk1', label: 'SDK 1.x Streamable HTTP', server: 'sdk1' },
  { id: 'fastmcp', label: 'fastmcp httpStream', server: 'fastmcp' },
];

/** Latencies in ms: client event → server release (or abort). */
export interface LatencySet {
  n: number;
  /** Client events with no matching server event. */
  missing: number;
  p50: number;
  p99: number;
  max: number;
}

export interface DisconnectRep {
  fin: LatencySet;
  rst: LatencySet;
  /** SIGKILL of a client process holding `killed` streams: kill → each release. */
  sigkill: LatencySet & { killed: number };
}

function summarize(deltasUs: number[], expected: number): LatencySet {
  const ms = deltasUs.map((d) => d / 1000).sort((a, b) => a - b);
  const at = (p: number) => ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))] ?? Number.NaN;
  return {
    n: ms.length,
    missing: expected - ms.length,
    p50: at(50),
    p99: at(99),
    max: ms.at(-1) ?? Number.NaN,
  };
}

/** Pairs client events with the server's in order (events are spaced apart, so order is kept). */
function pair(clientUs: number[], serverUs: number[]): number[] {
  const server = [...serverUs].sort((a, b) => a - b);
  const out: number[] = [];
  let j = 0;
  for (const c of [...clientUs].sort((a, b) => a - b)) {
    while (j < server.length && (server[j] as number) < c) j++;
    if (j >= server.length) break;
    out.push((server[j] as number) - c);
    j++;
  }
  return out;
}

async function waitMarks(server: RunningServer, key: 'released' | 'aborted', n: number, ms = 3_000) {
  const got: number[] = [];
  const deadline = Date.now() + ms;
  while (got.length < n && Date.now() < deadline) {
    got.push(...(await marks(server))[key]);
    if (got.length < n) await sleep(50);
  }
  return got;
}

export interface DisconnectSettings {
  streams: number;
  gapMs: number;
}

/** FIN, RST and SIGKILL for one stream kind on a fresh server. */
export async function disconnectRep(target: DisconnectTarget, s: DisconnectSettings): Promise<DisconnectRep> {
  const server = await startServer(target.server);
  try {
    const client = new StreamsClient(target.kind, server.port, 32);
    await client.open(s.streams * 2);
    await marks(server);
    const fin = await client.command<{ times: number[] }>(
      { cmd: 'close', count: s.streams, how: 'fin', gapMs: s.gapMs },
      'closed',
    );
    const finRel = await waitMarks(server, 'released', fin.times.length);
    const rst = await client.command<{ times: number[] }>(
      { cmd: 'close', count: s.streams, how: 'rst', gapMs: s.gapMs },
      'closed',
    );
    const rstRel = await waitMarks(server, 'released', rst.times.length);
    await client.close();
    await sleep(200);
    await marks(server);

    const victim = new StreamsClient(target.kind, server.port, 32);
    const opened = await victim.open(s.streams);
    await sleep(200);
    await marks(server);
    const killedAt = Number(process.hrtime.bigint() / 1000n);
    victim.kill();
    const killRel = await waitMarks(server, 'released', opened.total);
    return {
      fin: summarize(pair(fin.times, finRel), fin.times.length),
      rst: summarize(pair(rst.times, rstRel), rst.times.length),
      sigkill: {
        ...summarize(
          killRel.map((t) => t - killedAt),
          opened.total,
        ),
        killed: opened.total,
      },
    };
  } finally {
    await server.stop();
  }
}

/** 2026-07-28: a running `hold` call whose client sends FIN; time to the handler's AbortSignal. */
export async function abortRep(serverName: ServerName, s: DisconnectSettings): Promise<LatencySet> {
  const server = await startServer(serverName);
  try {
    const client = new StreamsClient('listen', server.port, 8);
    const res = await client.command<{ times: number[]; errorSamples: string[] }>(
      { cmd: 'abort', count: s.streams, gapMs: s.gapMs, how: 'fin' },
      'aborted',
    );
    const aborted = await waitMarks(server, 'aborted', res.times.length);
    await client.close();
    if (res.times.length === 0) throw new Error(`no hold call started: ${res.errorSamples.join('; ')}`);
    return summarize(pair(res.times, aborted), s.streams);
  } finally {
    await server.stop();
  }
}

export interface StormRep {
  clients: number;
  sessionsOpened: number;
  openFailures: number;
  openErrors: string[];
  /** Streams the server still held 2 s after the kill. */
  streamsLeft: number;
  /** Sessions the server still held once the idle TTL (tether: 2 s) had passed. */
  sessionsLeft: number;
  /** Of the sampled killed sessions, how many still answered `tools/call`. */
  stillAnswering: number;
  sampled: number;
  waitedMs: number;
}

async function tetherMetric(server: RunningServer, name: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
  const text = await res.text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop());
  return total;
}

/**
 * `processes` client processes holding `perProcess` sessions each (a GET
 * stream per session) are SIGKILLed at once. Then: streams left, sessions
 * left after the idle TTL, and whether the dead sessions still answer.
 */
export async function stormRep(
  serverName: ServerName,
  processes: number,
  perProcess: number,
  idleTtlMs: number,
): Promise<StormRep> {
  const env: Record<string, string> =
    serverName === 'tether'
      ? { BENCH_IDLE_TIMEOUT_MS: String(idleTtlMs), BENCH_PING_INTERVAL_MS: '1000' }
      : {};
  const server = await startServer(serverName, env);
  try {
    const clients: StreamsClient[] = [];
    const opened: Array<{ total: number; failures: number; errorSamples: string[] }> = [];
    for (let i = 0; i < processes; i++) {
      const c = new StreamsClient('session-get', server.port, 16);
      clients.push(c);
      opened.push(await c.open(perProcess));
    }
    const sample = (
      await Promise.all(
        clients.map((c) => c.command<{ ids: string[] }>({ cmd: 'sessions', count: 2 }, 'sessions')),
      )
    ).flatMap((r) => r.ids);
    const killedAt = Date.now();
    for (const c of clients) c.kill();
    await sleep(2_000);
    const streamsLeft =
      serverName === 'tether'
        ? await tetherMetric(server, 'mcp_tether_connections_active')
        : (await stats(server)).streams;
    // The idle TTL counts from the last activity; the sweep runs on the keepalive tick.
    await sleep(Math.max(0, idleTtlMs + 1_500 - (Date.now() - killedAt)));
    const sessionsLeft =
      serverName === 'tether'
        ? await tetherMetric(server, 'mcp_tether_sessions_active')
        : (await stats(server)).sessions;
    let stillAnswering = 0;
    const conn = new HttpConnection({ host: '127.0.0.1', port: server.port });
    await conn.connected();
    for (const [i, id] of sample.entries()) {
      const res = await conn.request(
        'POST',
        '/mcp',
        sessionHeaders(server.port, id),
        echoCallBody('session', i + 1, 'alive'),
      );
      if (checkEchoReply(res, i + 1, 'alive') === undefined) stillAnswering++;
    }
    conn.destroy();
    return {
      clients: processes,
      sessionsOpened: opened.reduce((n, o) => n + o.total, 0),
      openFailures: opened.reduce((n, o) => n + o.failures, 0),
      openErrors: opened.flatMap((o) => o.errorSamples).slice(0, 3),
      streamsLeft: streamsLeft < 0 ? Number.NaN : streamsLeft,
      sessionsLeft,
      stillAnswering,
      sampled: sample.length,
      waitedMs: Date.now() - killedAt,
    };
  } finally {
    await server.stop();
  }
}
