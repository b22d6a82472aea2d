import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * What every bench server shares: release and abort timestamps on the
 * machine-wide monotonic clock (`process.hrtime`, CLOCK_MONOTONIC, so a client
 * process can compare them with its own), a `/__bench/*` debug API, and the
 * one-line `READY` handshake the runner waits for.
 */

// Exit on SIGTERM (the runner's stop) through process.exit, so --cpu-prof and
// --heap-prof write their files when a profiling run stops a server.
process.once('SIGTERM', () => process.exit(0));

/** Monotonic time in microseconds, comparable across processes on this machine. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Timestamps the runner reads back: streams released, tool calls aborted. */
export const marks = { released: [] as number[], aborted: [] as number[] };

/** Records a stream release now. */
export function released(): void {
  marks.released.push(nowUs());
}

/** The process's memory once settled by full GCs (the server runs with `--expose-gc`). */
export function memory(): {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
} {
  const gc = (globalThis as { gc?: () => void }).gc;
  // Full GCs until the committed heap stops shrinking (at most 10): each pass compacts only
  // the most fragmented pages, and a server that freed many objects needs several to settle
  // where its memory reducer would take it over time.
  let committed = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 10 && gc; pass++) {
    gc();
    const now = process.memoryUsage().heapTotal;
    if (pass >= 1 && now >= committed) break;
    committed = now;
  }
  const m = process.memoryUsage();
  return {
    rssBytes: m.rss,
    heapUsedBytes: m.heapUsed,
    heapTotalBytes: m.heapTotal,
    externalBytes: m.external + m.arrayBuffers,
  };
}

function json(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** What a server exposes to the runner beyond the common routes. */
export interface BenchHooks {
  /** Sessions the server still holds. */
  sessions(): number;
  /** Streams the server still holds. */
  streams(): number;
  /** Sends one list-changed notification to every listening stream; resolves when written. */
  notify?(): Promise<void> | void;
  /**
   * Brings idle sessions to the state they reach once idle long enough (for
   * mcp-tether: hibernated, as `--hibernate-after` would); returns how many.
   */
  settle?(): number;
}

/**
 * Serves `/__bench/stats`, `/__bench/marks` (and clears them),
 * `/__bench/notify`. Returns true when the request was one of them.
 */
export function benchRoute(req: IncomingMessage, res: ServerResponse, hooks: BenchHooks): boolean {
  const url = req.url ?? '';
  if (!url.startsWith('/__bench/')) return false;
  if (url.startsWith('/__bench/stats')) {
    json(res, { sessions: hooks.sessions(), streams: hooks.streams(), ...memory() });
  } else if (url.startsWith('/__bench/marks')) {
    const body = { released: marks.released.splice(0), aborted: marks.aborted.splice(0) };
    json(res, body);
  } else if (url.startsWith('/__bench/notify')) {
    const startUs = nowUs();
    Promise.resolve(hooks.notify?.()).then(
      () => json(res, { startUs, doneUs: nowUs(), supported: hooks.notify !== undefined }),
      (err: unknown) => json(res, { startUs, error: String(err) }),
    );
  } else if (url.startsWith('/__bench/settle')) {
    json(res, { settled: hooks.settle?.() ?? 0, supported: hooks.settle !== undefined });
  } else {
    res.writeHead(404).end();
  }
  return true;
}

/**
 * Tells the runner where the server listens, on stderr: stdout belongs to the
 * server's own logs, which the runner sends to /dev/null.
 */
export function announce(port: number, controlPort = port): void {
  process.stderr.write(`READY ${JSON.stringify({ port, controlPort, pid: process.pid })}\n`);
}

/** Port from `BENCH_PORT` (default 0: any free port). */
export function portFromEnv(): number {
  return Number(process.env.BENCH_PORT ?? 0);
}

/** Milliseconds from an environment variable, or the fallback. */
export function msFromEnv(name: string, fallback: number): number {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : Number(v);
}

/**
 * The `hold {ms}` tool body shared by every server: waits `ms` unless the
 * request's AbortSignal fires first, and records the abort time. It sends one
 * progress notification first (when the client asked for progress) so the
 * client knows the call is running before it disconnects.
 */
export async function hold(
  ms: number,
  signal: AbortSignal,
  progress: (() => Promise<void>) | undefined,
): Promise<string> {
  await progress?.();
  return new Promise((resolve) => {
    if (signal.aborted) {
      marks.aborted.push(nowUs());
      resolve('aborted');
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve('held');
    }, ms);
    const onAbort = () => {
      marks.aborted.push(nowUs());
      clearTimeout(timer);
      resolve('aborted');
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
