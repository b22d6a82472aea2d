import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../fixtures/stream-client.mjs', import.meta.url));

/** A client process running `fixtures/stream-client.mjs`. */
export interface StreamClient {
  child: ChildProcess;
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
  const child = spawn(process.execPath, [FIXTURE, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the client process did not start');
  child.stdin?.on('error', () => {});
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => {
    child.once('exit', (_code, signal) => resolve(signal));
  });
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  const started = new Promise<void>((resolve, reject) => {
    const check = () => {
      if (!/^started$/m.test(stdout)) return;
      child.stdout?.off('data', check);
      resolve();
    };
    child.stdout?.on('data', check);
    child.once('exit', (code, signal) =>
      reject(new Error(`client exited (${code ?? signal}); stderr: ${stderr}`)),
    );
  });
  started.catch(() => {});
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`client not ready after ${readyTimeoutMs} ms; stderr: ${stderr}`)),
      readyTimeoutMs,
    );
    child.stdout?.on('data', () => {
      const line = /^ready ?(.*)$/m.exec(stdout);
      if (line) {
        clearTimeout(timer);
        resolve(line[1] ?? '');
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`client exited (${code ?? signal}) before ready; stderr: ${stderr}`));
    });
  });
  ready.catch(() => {});
  return {
    child,
    pid,
    started,
    send: (line) => child.stdin?.write(`${line}\n`),
    ready,
    exited,
    kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    },
  };
}
