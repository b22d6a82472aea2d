import type { ChildProcess } from 'node:child_process';
import { buildDir } from './build.js';
import { REPO, SERVER_CPU, spawnNode, stderrTail, stop, waitLine } from './proc.js';

/** The servers a run compares; each is a script in bench/servers/. */
export type ServerName = 'raw' | 'tether' | 'sdk1' | 'sdk2' | 'fastmcp';

/** A server started for one measurement. */
export interface RunningServer {
  name: ServerName;
  child: ChildProcess;
  pid: number;
  port: number;
  /** Port of the `/__bench/*` debug API (the same port for the reference servers). */
  controlPort: number;
  stop(): Promise<void>;
}

/**
 * Starts a bench server pinned to the server core and waits for its READY
 * line. `checkout` (this one by default) is the checkout whose
 * `bench/servers/<name>.ts` runs, in that checkout's directory, against that
 * checkout's build of mcp-tether (made by the runner). `BENCH_SERVER_NODE_ARGS`
 * adds node flags, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
 */
export async function startServer(
  name: ServerName,
  env: Record<string, string> = {},
  checkout: string = REPO,
): Promise<RunningServer> {
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawnNode(
    SERVER_CPU,
    [...extra, '--expose-gc', '--import', 'tsx', `bench/servers/${name}.ts`],
    { BENCH_TETHER_DIST: `${buildDir(checkout)}/dist/index.js`, ...env },
    'ignore',
    checkout,
  );
  let ready: { port: number; controlPort: number; pid: number };
  try {
    ready = JSON.parse(await waitLine(child, 'stderr', 'READY', 30_000)) as typeof ready;
  } catch (err) {
    await stop(child);
    throw new Error(`${name} did not start: ${(err as Error).message}\n${stderrTail(child)}`);
  }
  return {
    name,
    child,
    pid: ready.pid,
    port: ready.port,
    controlPort: ready.controlPort,
    // A profiling run needs time to write its profile on exit.
    stop: () => stop(child, extra.length > 0 ? 60_000 : 2_000),
  };
}

/** GET or POST a `/__bench/*` route of a running server. */
export async function control<T>(server: RunningServer, route: string, method = 'GET'): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${server.controlPort}/__bench/${route}`, { method });
  return (await res.json()) as T;
}

/** The server's own view: sessions, streams and memory after a full GC. */
export interface ServerStats {
  sessions: number;
  streams: number;
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
}

export const stats = (server: RunningServer) => control<ServerStats>(server, 'stats');

/** Release and abort timestamps (µs, CLOCK_MONOTONIC) since the last call. */
export const marks = (server: RunningServer) =>
  control<{ released: number[]; aborted: number[] }>(server, 'marks');
