import type { ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();

/** Remembers a child so {@link stopAll} can end it by its PID. */
export function track(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Whether the process has not exited yet. */
export function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal` to one child by its PID; no-op once it has exited. */
export function signalChild(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!alive(child) || child.pid === undefined) return;
  try {
    process.kill(child.pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** SIGKILLs, by PID, every child this file started that is still running (stopped ones too). */
export function stopAll(): void {
  for (const child of children) signalChild(child, 'SIGKILL');
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
