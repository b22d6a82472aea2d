import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * Processes of a bench run: every server and client is a child started with
 * `taskset` on its own core (server on CPU 0, clients on CPU 1 when the
 * machine has two or more) and a raised open-file limit, read through
 * `/proc`, and stopped by its own PID.
 */

export const REPO = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

const HAS_TASKSET = (() => {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export const CPUS = (() => {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 1;
  } catch {
    return 1;
  }
})();

export const SERVER_CPU = 0;
export const CLIENT_CPU = CPUS > 1 ? 1 : 0;
export const PINNED = HAS_TASKSET && CPUS > 1;

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Every child this run started, so an interrupted run can stop them by PID. */
const children = new Set<ChildProcess>();

/**
 * Starts `node <args>` in `cwd` (this checkout by default) pinned to `cpu`, with
 * the open-file limit raised to the hard limit (the shell `exec`s node, so the
 * child's PID is node's).
 */
export function spawnNode(
  cpu: number,
  nodeArgs: string[],
  env: Record<string, string> = {},
  stdout: 'pipe' | 'ignore' = 'pipe',
  cwd: string = REPO,
): ChildProcess {
  const quoted = nodeArgs.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const script = `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec node ${quoted}`;
  const argv = PINNED ? ['taskset', '-c', String(cpu), 'bash', '-c', script] : ['bash', '-c', script];
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['pipe', stdout, 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  // Always drained, so a chatty child never blocks on a full pipe; the tail is kept for errors.
  const tail: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    tail.push(chunk.toString());
    if (tail.length > 20) tail.shift();
  });
  stderrTails.set(child, tail);
  return child;
}

const stderrTails = new WeakMap<ChildProcess, string[]>();

/** The last few KB a child wrote to stderr. */
export function stderrTail(child: ChildProcess): string {
  return (stderrTails.get(child) ?? []).join('').slice(-2_000);
}

/** Stops one child by its PID: SIGTERM, then SIGKILL after `graceMs`. */
export async function stop(child: ChildProcess, graceMs = 2_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kills every child still running (on an interrupted run), each by its PID. */
export function killAll(): void {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
}

/** CPU time (user + system) of a process so far, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command: state is index 0, utime 11, stime 12.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** Resident set size of a process, bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

export function alive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

/** Lines of a child's stream, as an async iterator. */
export function lines(stream: NodeJS.ReadableStream): AsyncIterableIterator<string> {
  return createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })[Symbol.asyncIterator]();
}

/** Resolves with the first line matching `prefix` (without it), or rejects after `timeoutMs`. */
export function waitLine(
  child: ChildProcess,
  stream: 'stdout' | 'stderr',
  prefix: string,
  timeoutMs: number,
): Promise<string> {
  const source = child[stream];
  if (!source) return Promise.reject(new Error(`no ${stream}`));
  return new Promise((resolve, reject) => {
    const seen: string[] = [];
    const rl = createInterface({ input: source });
    const timer = setTimeout(() => {
      rl.close();
      reject(new Error(`no "${prefix}" within ${timeoutMs} ms; last lines: ${seen.slice(-5).join(' | ')}`));
    }, timeoutMs);
    rl.on('line', (line) => {
      seen.push(line);
      if (!line.startsWith(prefix)) return;
      clearTimeout(timer);
      rl.close();
      resolve(line.slice(prefix.length).trim());
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before "${prefix}"; last lines: ${seen.slice(-5).join(' | ')}`));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The 1-minute load average. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}
