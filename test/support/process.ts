/**
 * Child processes for every suite: spawn (a node script, with tsx when it is
 * TypeScript, or any program), read its output as it arrives, wait for a line,
 * stop it by its PID (SIGTERM, then SIGKILL after a bound). Every child is
 * watched (./watchdog.mjs), so none outlives a test runner killed without
 * running its hooks. Also the waiting helpers: `freePort`, `poll`, `waitFor`.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WATCHDOG = fileURLToPath(new URL('./watchdog.mjs', import.meta.url));
const WATCHDOG_ENV = { TETHER_TEST_PARENT_PID: String(process.pid) };

/** Resolves after `ms`; rejects with the signal's reason as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A port free on 127.0.0.1 a moment ago (another process may still take it: retry on EADDRINUSE). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Polls `probe` every `everyMs` until it returns a value that is not undefined; throws after `timeoutMs`. */
export async function poll<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Polls `predicate` every 10 ms until it holds or `timeoutMs` passes; throws on timeout. */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  await poll(() => (predicate() ? true : undefined), timeoutMs, what, 10);
}

/** Rejects with `what` when `promise` does not settle within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve function, for gating a setup or a tool from the test. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Whether the process has not exited yet. */
export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal` to `pid`; false when there was no such process. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    return false;
  }
}

/** How a child ended, with `Date.now()` when the parent saw it exit. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

/** A spawned process with its output captured. */
export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line (printed or to come) matching `match`; rejects at exit or after `timeoutMs`. */
  line(match: RegExp | ((line: string) => boolean), timeoutMs: number, what?: string): Promise<string>;
  /** Calls `onLine` for every complete stdout line from now on. */
  onLine(onLine: (line: string) => void): void;
  /** Timed at 'exit', resolved at 'close': by then all its output has been read. */
  readonly exited: Promise<ChildExit>;
  alive(): boolean;
  /** Sends `signal` by PID (no-op once exited); returns `Date.now()` taken just before. */
  signal(signal: NodeJS.Signals): number;
  /** SIGTERM by PID, SIGKILL if it has not exited after `killAfterMs`; resolves once it has exited. */
  stop(killAfterMs?: number): Promise<void>;
  /** SIGKILL by PID; resolves once it has exited. */
  kill(): Promise<void>;
}

/** Options for {@link spawnChild} and {@link spawnNode}. */
export interface ChildOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** stdin is a pipe when true, else ignored. */
  stdin?: boolean;
}

const running = new Set<Child>();

function start(
  command: string,
  args: string[],
  options: ChildOptions,
  watchdog: 'import' | 'process',
): Child {
  const spawnOptions: SpawnOptions = {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env, ...WATCHDOG_ENV },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  };
  const child = spawn(command, args, spawnOptions);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${command} did not start`);
  child.stdin?.on('error', () => {});
  let watcher: ChildProcess | undefined;
  if (watchdog === 'process') {
    watcher = spawn(process.execPath, [WATCHDOG, String(pid)], { env: spawnOptions.env, stdio: 'ignore' });
    watcher.unref();
  }
  let stdout = '';
  let stderr = '';
  let partial = '';
  const listeners = new Set<(line: string) => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    partial += chunk;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) for (const listen of [...listeners]) listen(l);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      const at = Date.now();
      if (watcher?.pid !== undefined && alive(watcher)) signalPid(watcher.pid, 'SIGKILL');
      child.once('close', () => resolve({ code, signal, at }));
    });
  });
  const closed = exited.then(() => undefined);
  const label = `${command} ${pid}`;
  const subscribe = (listen: (line: string) => void) => listeners.add(listen);
  const textLines = collectLines<string>(
    subscribe,
    closed,
    label,
    () => stderr,
    (text) => text,
  );
  const handle: Child = {
    process: child,
    pid,
    stdout: () => stdout,
    stderr: () => stderr,
    onLine: (listen) => listeners.add(listen),
    line(match, timeoutMs, what = String(match)) {
      return textLines.wait(typeof match === 'function' ? match : (l) => match.test(l), timeoutMs, what);
    },
    exited,
    alive: () => alive(child),
    signal(signal) {
      const at = Date.now();
      if (alive(child)) signalPid(pid, signal);
      return at;
    },
    async stop(killAfterMs = 5_000) {
      if (alive(child)) signalPid(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (alive(child)) signalPid(pid, 'SIGKILL');
      }, killAfterMs);
      await closed.finally(() => clearTimeout(timer));
    },
    async kill() {
      if (alive(child)) signalPid(pid, 'SIGKILL');
      await closed;
    },
  };
  running.add(handle);
  void closed.then(() => running.delete(handle));
  return handle;
}

/** Spawns a program that is not node; a watchdog process ends it if this runner dies. */
export function spawnChild(command: string, args: string[], options: ChildOptions = {}): Child {
  return start(command, args, options, 'process');
}

/**
 * Spawns `node [--import tsx] <args>`; the child exits on its own if this
 * runner dies. `nodeFlags` go before the script (e.g. `--expose-gc`).
 *
 * @example
 * const c = spawnNode(['src/cli/bin.ts', 'serve', '--port', '0'], { tsx: true });
 * try { await c.line(/server\.listening/, 20_000); } finally { await c.stop(); }
 */
export function spawnNode(
  args: string[],
  options: ChildOptions & { tsx?: boolean; nodeFlags?: string[] } = {},
): Child {
  const flags = [
    ...(options.nodeFlags ?? []),
    '--import',
    WATCHDOG,
    ...(options.tsx ? ['--import', 'tsx'] : []),
  ];
  return start(process.execPath, [...flags, ...args], options, 'import');
}

/** SIGKILLs, by PID, every child spawned here that is still running, and waits for each to exit. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((c) => c.kill()));
}

/** A child's stdout JSON lines, parsed as they arrive. */
export interface JsonLines<T> {
  readonly lines: T[];
  /** Resolves with the first line (printed or to come) matching `predicate`; rejects at exit or after `timeoutMs`. */
  wait(predicate: (line: T) => boolean, timeoutMs: number, what: string): Promise<T>;
}

/**
 * Parses every stdout line of `child` that `accept` lets through as JSON
 * (`map` may add fields), from now on.
 */
export function jsonLines<T>(
  child: Child,
  accept: (text: string) => boolean = (text) => text.startsWith('{'),
  map: (line: T) => T = (line) => line,
): JsonLines<T> {
  return collectLines<T>(
    (listen) => child.onLine(listen),
    child.exited,
    String(child.pid),
    () => child.stderr(),
    (text) => (accept(text) ? map(JSON.parse(text) as T) : undefined),
  );
}

/** Lines as `parse` makes them (undefined: skipped), kept in order, with a bounded wait for one. */
function collectLines<T>(
  subscribe: (listen: (text: string) => void) => void,
  closed: Promise<unknown>,
  label: string,
  stderr: () => string,
  parse: (text: string) => T | undefined,
): JsonLines<T> {
  const lines: T[] = [];
  const watchers = new Set<(line: T) => void>();
  subscribe((text) => {
    const line = parse(text);
    if (line === undefined) return;
    lines.push(line);
    for (const w of [...watchers]) w(line);
  });
  const wait = (predicate: (line: T) => boolean, timeoutMs: number, what: string) => {
    const found = lines.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise<T>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        watchers.delete(watch);
      };
      const watch = (line: T) => {
        if (!predicate(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${label}: no ${what} within ${timeoutMs} ms; stderr: ${stderr()}`));
      }, timeoutMs);
      watchers.add(watch);
      // The child's `exited` resolves once stdout is drained, so every printed line has been seen.
      void closed.then(() => {
        if (!watchers.has(watch)) return;
        done();
        reject(new Error(`${label} exited before ${what}; stderr: ${stderr()}`));
      });
    });
  };
  return { lines, wait };
}
