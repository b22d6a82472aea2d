import { fileURLToPath } from 'node:url';
import { type Child, spawnNode } from '../../support/process.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/stream-client.mjs', import.meta.url));

/** A client process running `fixtures/stream-client.mjs`. */
export interface StreamClient {
  child: Child;
  pid: number;
  /** Resolves once the child is up and waiting for a session id on stdin (session id `-`). */
  started: Promise<void>;
  /** Writes one line to the child's stdin. */
  send(line: string): void;
  /** Resolves with the text after `ready ` once the child reports its stream live. */
  ready: Promise<string>;
  /** Resolves when the process has exited, with its signal. */
  exited: Promise<NodeJS.Signals | null>;
  /** SIGKILL by PID; safe to call when already gone. */
  kill(): void;
}

/**
 * Spawns the fixture client. Always pair with `kill()` in a `finally`.
 *
 * @example
 * const c = spawnStreamClient(['get', mcpUrl, sessionId]);
 * try { await c.ready; c.kill(); } finally { c.kill(); }
 */
export function spawnStreamClient(args: string[], readyTimeoutMs = 10_000): StreamClient {
  const child = spawnNode([FIXTURE, ...args], { stdin: true });
  const started = child.line(/^started$/, readyTimeoutMs, 'started').then(() => undefined);
  started.catch(() => {});
  const ready = child
    .line(/^ready ?/, readyTimeoutMs, 'ready')
    .then((l) => /^ready ?(.*)$/.exec(l)?.[1] ?? '');
  ready.catch(() => {});
  return {
    child,
    pid: child.pid,
    started,
    send: (line) => child.process.stdin?.write(`${line}\n`),
    ready,
    exited: child.exited.then((e) => e.signal),
    kill: () => {
      child.signal('SIGKILL');
    },
  };
}
