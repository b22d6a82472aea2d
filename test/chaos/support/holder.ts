import { fileURLToPath } from 'node:url';
import { type Child, type ChildExit, jsonLines, spawnNode } from '../../support/process.js';

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
  readonly child: Child;
  readonly pid: number;
  readonly lines: HolderLine[];
  /** Resolves with the initial streams once each is open (or refused). */
  readonly ready: Promise<StreamInfo[]>;
  /** Resolves with the first line (printed or to come) matching `predicate`. */
  line(predicate: (l: HolderLine) => boolean, timeoutMs: number, what: string): Promise<HolderLine>;
  send(command: Record<string, unknown>): void;
  /** Sends `signal` by PID; returns `Date.now()` taken just before. */
  signal(signal: NodeJS.Signals): number;
  readonly exited: Promise<ChildExit>;
}

/**
 * Spawns a holder client process. Every holder is stopped by PID in the
 * file's `afterAll(killAll)`.
 *
 * @example
 * const h = spawnHolder({ base: server.url, streams: [{ kind: 'seed' }] });
 * const [seed] = await h.ready;
 */
export function spawnHolder(spec: HolderSpec, readyTimeoutMs = 30_000): Holder {
  const child = spawnNode([FIXTURE, JSON.stringify(spec)], { stdin: true });
  const pid = child.pid;
  const { lines, wait: line } = jsonLines<HolderLine>(child, (text) => text !== '');

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
    send: (command) => child.process.stdin?.write(`${JSON.stringify(command)}\n`),
    signal: (signal) => child.signal(signal),
    exited: child.exited,
  };
}
