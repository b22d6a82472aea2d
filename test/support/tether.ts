import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach } from 'vitest';
import { type CreateTetherOptions, createTether, type Tether } from '../../src/index.js';

/** A log line as pino wrote it. */
export type LogLine = Record<string, unknown> & { msg: string; level: number };

/** A running instance on 127.0.0.1:0 with its log lines captured. */
export interface TestTether {
  tether: Tether;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** `${url}/mcp` */
  mcpUrl: URL;
  logs: LogLine[];
  /** Log lines with this `msg`. */
  logsOf(msg: string): LogLine[];
  close(): Promise<void>;
}

/**
 * A pino logger whose lines are parsed into `logs`, for suites that build
 * their own server around `tether.handler`.
 *
 * @example
 * const { logger, logs } = captureLogs();
 * const tether = createTether({ logger });
 */
export function captureLogs(level: string = 'debug'): { logger: pino.Logger; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: pino({ level }, sink), logs };
}

/**
 * Starts mcp-tether on a free loopback port with logs captured in memory.
 *
 * @example
 * const t = await startTether({ pingIntervalMs: 1000 });
 * // ... use t.mcpUrl ...
 * await t.close();
 */
export async function startTether(options: CreateTetherOptions = {}): Promise<TestTether> {
  const { logger, logs } = captureLogs(options.logLevel ?? 'debug');
  const tether = createTether({ ...options, logger, host: '127.0.0.1', port: 0 });
  const { url } = await tether.listen();
  return {
    tether,
    url,
    mcpUrl: new URL(`${url}/mcp`),
    logs,
    logsOf: (msg) => logs.filter((l) => l.msg === msg),
    close: () => tether.close(),
  };
}

/**
 * One instance per test: `start()` starts it, and after each test every
 * cleanup given to `defer()` runs (last first), then the instance closes.
 * Call once at the top of a file.
 *
 * @example
 * const { start, defer } = tetherPerTest();
 * it('...', async () => { const t = await start(); defer(() => reader.cancel()); });
 */
export function tetherPerTest(): {
  start(options?: CreateTetherOptions): Promise<TestTether>;
  defer(cleanup: () => unknown): void;
} {
  let current: TestTether | undefined;
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await current?.close();
    current = undefined;
  });
  return {
    async start(options = {}) {
      current = await startTether(options);
      return current;
    },
    defer: (cleanup) => cleanups.push(cleanup),
  };
}
