import { performance } from 'node:perf_hooks';
import { CLIENT_CPU, cpuMs, lines, rssBytes, spawnNode, stderrTail, stop } from '../lib/proc.js';
import type { CallMode } from '../lib/protocol.js';
import { type RunningServer, type ServerName, startServer } from '../lib/servers.js';
import type { LoadOptions, LoadResult } from '../load.js';

/** One throughput configuration: a server, how it is driven, and its label in the report. */
export interface ThroughputTarget {
  id: string;
  label: string;
  server: ServerName;
  mode: CallMode;
  env?: Record<string, string>;
  /** Only with BENCH_ALL=1 (keeps the default run within its time budget). */
  extra?: boolean;
  /** Another checkout whose server script and build run instead of this one's (`BENCH_BASELINE`). */
  checkout?: string;
}

export const THROUGHPUT_TARGETS: ThroughputTarget[] = [
  { id: 'raw', label: 'raw node:http (JSON echo)', server: 'raw', mode: 'plain' },
  { id: 'tether', label: 'mcp-tether (2025-11-25 session, SSE reply)', server: 'tether', mode: 'session' },
  { id: 'tether-2026', label: 'mcp-tether (2026-07-28, stateless)', server: 'tether', mode: 'modern' },
  { id: 'sdk1-sse', label: 'SDK 1.x Streamable HTTP (stateful, SSE reply)', server: 'sdk1', mode: 'session' },
  {
    id: 'sdk1-json',
    label: 'SDK 1.x Streamable HTTP (stateful, JSON reply)',
    server: 'sdk1',
    mode: 'session',
    env: { BENCH_JSON: '1' },
  },
  {
    id: 'sdk1-legacy',
    label: 'SDK 1.x SSEServerTransport (HTTP+SSE)',
    server: 'sdk1',
    mode: 'http-sse',
    extra: true,
  },
  { id: 'sdk2', label: 'SDK v2 createMcpHandler (2026-07-28)', server: 'sdk2', mode: 'modern' },
  { id: 'fastmcp', label: 'fastmcp httpStream (stateful, SSE reply)', server: 'fastmcp', mode: 'session' },
];

/** The mcp-tether targets a baseline run measures from both checkouts. */
export const BASELINE_IDS = ['tether', 'tether-2026'];

/** The id of a target's twin run from the base checkout. */
export const baseId = (id: string) => `${id}@base`;

/**
 * `tether@base` and `tether-2026@base`: the same targets, driven by this
 * checkout's client, against `checkout`'s own `bench/servers/tether.ts` and
 * build of its `src/`.
 */
export function baselineTargets(checkout: string): ThroughputTarget[] {
  return THROUGHPUT_TARGETS.filter((t) => BASELINE_IDS.includes(t.id)).map((t) => ({
    ...t,
    id: baseId(t.id),
    label: `${t.label} @ base`,
    checkout,
  }));
}

/** One measured window. */
export interface ThroughputSample extends LoadResult {
  concurrency: number;
  serverCpuPercent: number;
  serverRssBytes: number;
}

/** Runs the load generator against `server` and reads the server's CPU over the measured window. */
export async function measureLoad(
  server: RunningServer,
  mode: CallMode,
  concurrency: number,
  warmupMs: number,
  durationMs: number,
): Promise<ThroughputSample> {
  const options: LoadOptions = {
    mode,
    port: server.port,
    concurrency,
    warmupMs,
    durationMs,
    maxRequests: 3_000_000,
  };
  const client = spawnNode(CLIENT_CPU, ['--import', 'tsx', 'bench/load.ts', JSON.stringify(options)]);
  let cpuStart = 0;
  let tStart = 0;
  let cpu = Number.NaN;
  let rss = Number.NaN;
  let result: (LoadResult & { fatal?: string }) | undefined;
  try {
    for await (const line of lines(client.stdout as NodeJS.ReadableStream)) {
      if (line === '{"event":"measure-start"}') {
        cpuStart = cpuMs(server.pid);
        tStart = performance.now();
      } else if (line === '{"event":"measure-end"}') {
        cpu = ((cpuMs(server.pid) - cpuStart) / (performance.now() - tStart)) * 100;
        rss = rssBytes(server.pid);
      } else if (line.startsWith('RESULT ')) {
        result = JSON.parse(line.slice(7)) as LoadResult & { fatal?: string };
        break;
      }
    }
  } finally {
    await stop(client);
  }
  if (!result || result.fatal) {
    throw new Error(
      `load against ${server.name} failed: ${result?.fatal ?? 'no result'}\n${stderrTail(client)}`,
    );
  }
  return { ...result, concurrency, serverCpuPercent: cpu, serverRssBytes: rss };
}

export interface ThroughputSettings {
  concurrencies: number[];
  warmupMs: number;
  durationMs: number;
}

/** One repetition for one target: a fresh server, then each concurrency in turn. */
export async function throughputRep(
  target: ThroughputTarget,
  settings: ThroughputSettings,
): Promise<ThroughputSample[]> {
  const server = await startServer(target.server, target.env, target.checkout);
  try {
    const out: ThroughputSample[] = [];
    for (const c of settings.concurrencies) {
      out.push(await measureLoad(server, target.mode, c, settings.warmupMs, settings.durationMs));
    }
    return out;
  } finally {
    await server.stop();
  }
}
