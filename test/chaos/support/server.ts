import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Child,
  type ChildExit,
  jsonLines,
  REPO_ROOT,
  spawnNode,
  within,
} from '../../support/process.js';
import type { ToolEvent } from '../fixtures/chaos-tools.js';
import { recordReasons, resultsDir } from './results.js';

export { REPO_ROOT };

const TOOLS = fileURLToPath(new URL('../fixtures/chaos-tools.ts', import.meta.url));
export const ADMIN_TOKEN = 'chaos-admin-token-0123456789abcdef';

/** A JSON log line of the server, with `t` = its time in ms since the epoch. */
export type ServerLog = Record<string, unknown> & { msg: string; time: string; t: number };

/** How the server process ended, with the wall time at which the parent saw it exit. */
export type ServerExit = ChildExit;

/** `mcp-tether serve` in a child process, with its log lines parsed as they arrive. */
export interface ChaosServer {
  readonly name: string;
  readonly child: Child;
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly logs: ServerLog[];
  logsOf(msg: string): ServerLog[];
  /** Resolves with the first line (already logged or to come) matching `predicate`. */
  waitForLog(predicate: (l: ServerLog) => boolean, timeoutMs: number, what: string): Promise<ServerLog>;
  /** Every tool event the chaos tools module recorded so far. */
  toolEvents(): ToolEvent[];
  /** Path whose existence makes the tools module's setup throw. */
  readonly faultFile: string;
  readonly exited: Promise<ServerExit>;
  /** Sends `signal` by PID; returns `Date.now()` taken just before. */
  signal(signal: NodeJS.Signals): number;
  /** Records the close reasons it logged, then SIGKILLs it by PID if it still runs. */
  stop(): Promise<void>;
}

/**
 * Starts `node --expose-gc --import tsx src/cli/bin.ts serve` on 127.0.0.1 with
 * a free port, JSON logs, the admin API and the chaos tools module.
 *
 * @example
 * const server = await startServer('disconnect', ['--idle-timeout', '1s']);
 * try { ... } finally { await server.stop(); }
 */
export async function startServer(name: string, flags: string[] = []): Promise<ChaosServer> {
  const dir = resultsDir();
  const eventsFile = join(dir, `${name}-events.jsonl`);
  const faultFile = join(dir, `${name}-fault`);
  const child = spawnNode(
    [
      'src/cli/bin.ts',
      'serve',
      ...['--host', '127.0.0.1', '--port', '0', '--log-format', 'json'],
      // debug: the suite follows every stream, a request's own response stream included.
      ...['--log-level', 'debug'],
      ...['--admin-token', ADMIN_TOKEN, '--tools', TOOLS],
      ...flags,
    ],
    {
      tsx: true,
      nodeFlags: ['--expose-gc'],
      env: { NO_COLOR: '1', CHAOS_EVENTS_FILE: eventsFile, CHAOS_FAULT_FILE: faultFile },
    },
  );
  const pid = child.pid;
  const raw = createWriteStream(join(dir, `${name}.log`));
  child.process.stdout?.on('data', (chunk: string) => raw.write(chunk));
  child.process.stderr?.on('data', (chunk: string) => raw.write(`[stderr] ${chunk}`));
  const { lines: logs, wait: waitForLog } = jsonLines<ServerLog>(child, undefined, (line) => {
    line.t = Date.parse(line.time);
    return line;
  });
  // Timed at 'exit', resolved at 'close': by then every line it printed has been read.
  const exited = child.exited.then((e) => {
    raw.end();
    return e;
  });

  const listening = await Promise.race([
    waitForLog((l) => l.msg === 'server.listening', 30_000, 'server.listening'),
    exited.then((e) => {
      throw new Error(`${name}: server exited (${e.code ?? e.signal}) before listening: ${child.stderr()}`);
    }),
  ]);
  const port = Number(listening.port);

  return {
    name,
    child,
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    logs,
    logsOf: (msg) => logs.filter((l) => l.msg === msg),
    waitForLog,
    toolEvents: () =>
      existsSync(eventsFile)
        ? readFileSync(eventsFile, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as ToolEvent)
        : [],
    faultFile,
    exited,
    signal: (signal) => child.signal(signal),
    async stop() {
      recordReasons(
        name,
        logs.filter((l) => l.msg === 'connection.closed').map((l) => String(l.reason)),
        logs.filter((l) => l.msg === 'session.closed').map((l) => String(l.reason)),
      );
      await within(child.kill(), 5_000, `${name} to exit`);
    },
  };
}

/** Resolves with the `connection.closed` line of `connectionId`. */
export function closedLine(server: ChaosServer, connectionId: string, timeoutMs = 5_000): Promise<ServerLog> {
  return server.waitForLog(
    (l) => l.msg === 'connection.closed' && l.connection_id === connectionId,
    timeoutMs,
    `connection.closed of ${connectionId}`,
  );
}
