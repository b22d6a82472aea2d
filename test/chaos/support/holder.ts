import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { signalChild, track } from './processes.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/holder.mjs', import.meta.url));

/** Transports a holder can open (see fixtures/holder.mjs). */
export type StreamKind = 'get' | 'post' | 'modern' | 'listen' | 'legacy' | 'seed';

/** A tool call: name and arguments. */
export interface ToolSpec {
  name: string;
  arguments?: Record<string, unknown>;
}

/** One stream a holder opens. */
export interface StreamSpec {
  kind: StreamKind;
  tool?: ToolSpec;
  call?: ToolSpec;
  sessionOf?: number;
  answerPings?: boolean;
  resume?: boolean;
  maxResumes?: number;
  flood?: boolean;
}

export interface HolderSpec {
  base: string;
  localAddress?: string;
  concurrency?: number;
  streams: StreamSpec[];
}

/** A stream as the holder reports it when opened or refused. */
export interface StreamInfo {
  i: number;
  kind: StreamKind;
  status: number;
  sessionId?: string;
  connectionId?: string;
  error?: { status?: number; retryAfter?: number; code?: string; message: string };
}

/** A line the holder printed. */
export type HolderLine = Record<string, unknown> & { type: string; i?: number };

/** A holder process. */
export interface Holder {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly lines: HolderLine[];
  /** Resolves with the initial streams once each is open (or refused). */
  readonly ready: Promise<StreamInfo[]>;
  /** Resolves with the first line (printed or to come) matching `predicate`. */
  line(predicate: (l: HolderLine) => boolean, timeoutMs: number, what: string): Promise<HolderLine>;
  send(command: Record<string, unknown>): void;
  /** Sends `signal` by PID; returns `Date.now()` taken just before. */
  signal(signal: NodeJS.Signals): number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns a holder client process. Every holder is stopped by PID in the
 * file's `afterAll(stopAll)`.
 *
 * @example
 * const h = spawnHolder({ base: server.url, streams: [{ kind: 'seed' }] });
 * const [seed] = await h.ready;
 */
export function spawnHolder(spec: HolderSpec, readyTimeoutMs = 30_000): Holder {
  const child = spawn(process.execPath, [FIXTURE, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
  track(child);
  const pid = child.pid;
  if (pid === undefined) throw new Error('the holder process did not start');
  child.stdin?.on('error', () => {});
  const lines: HolderLine[] = [];
  const watchers = new Set<(l: HolderLine) => void>();
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      if (text === '') continue;
      const l = JSON.parse(text) as HolderLine;
      lines.push(l);
      for (const w of [...watchers]) w(l);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  // 'close' comes once stdout is drained, so every printed line has been seen.
  const drained = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const line = (predicate: (l: HolderLine) => boolean, timeoutMs: number, what: string) => {
    const found = lines.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<HolderLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        watchers.delete(watch);
        reject(new Error(`holder ${pid}: no ${what} within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      const watch = (l: HolderLine) => {
        if (!predicate(l)) return;
        clearTimeout(timer);
        watchers.delete(watch);
        resolve(l);
      };
      watchers.add(watch);
      void drained.then(() => {
        if (!watchers.has(watch)) return;
        clearTimeout(timer);
        watchers.delete(watch);
        reject(new Error(`holder ${pid} exited before ${what}; stderr: ${stderr}`));
      });
    });
  };

  const ready = line((l) => l.type === 'ready', readyTimeoutMs, 'ready').then(
    (l) => l.streams as StreamInfo[],
  );
  ready.catch(() => {});

  return {
    child,
    pid,
    lines,
    ready,
    line,
    send: (command) => child.stdin?.write(`${JSON.stringify(command)}\n`),
    signal(signal) {
      const at = Date.now();
      signalChild(child, signal);
      return at;
    },
    exited,
  };
}
