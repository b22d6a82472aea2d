import { Writable } from 'node:stream';
import pino from 'pino';
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
 * Starts mcp-tether on a free loopback port with logs captured in memory.
 *
 * @example
 * const t = await startTether({ pingIntervalMs: 1000 });
 * // ... use t.mcpUrl ...
 * await t.close();
 */
export async function startTether(options: CreateTetherOptions = {}): Promise<TestTether> {
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = pino({ level: options.logLevel ?? 'debug' }, sink);
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
