import type { CallToolResult, InputRequest } from '@modelcontextprotocol/server';
import { isTerminalStatus, type TaskError, type TaskStatus } from './types.js';

/** A task as a store keeps it. Times are epoch milliseconds; the wire shape is derived from it. */
export interface TaskRecord {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  createdAt: number;
  lastUpdatedAt: number;
  /** Time to live from `createdAt`; `null`: kept until evicted for room. */
  ttlMs: number | null;
  pollIntervalMs?: number;
  /** The tool the task runs. */
  toolName: string;
  /** Who created it (`AuthInfo.clientId`); only the same caller can see it. */
  owner?: string;
  /** Outstanding input requests while `input_required`. */
  inputRequests?: Record<string, InputRequest>;
  /** The tool result once `completed`. */
  result?: CallToolResult;
  /** The JSON-RPC error once `failed`. */
  error?: TaskError;
}

/** Fields a transition may change. `undefined` values remove the field. */
export type TaskPatch = Partial<
  Pick<TaskRecord, 'status' | 'statusMessage' | 'inputRequests' | 'result' | 'error' | 'pollIntervalMs'>
>;

/** Thrown by {@link TaskStore.create} when no room can be made for another task. */
export class TaskCapacityError extends Error {
  constructor(readonly maxTasks: number) {
    super(`Task capacity reached (${maxTasks} tasks retained, none of them finished)`);
    this.name = 'TaskCapacityError';
  }
}

/**
 * Where tasks live between requests. One store per tether instance: every
 * 2026-07-28 request is served by a fresh `McpServer`, so nothing about a
 * task may live on a server instance.
 *
 * Contract:
 * - `create` resolves only once `get` finds the task (a `CreateTaskResult`
 *   must not be sent before that).
 * - A terminal task (`completed`, `failed`, `cancelled`) never changes:
 *   `update` returns it unchanged.
 * - A task past `createdAt + ttlMs` may be dropped at any time and is then
 *   `undefined` to `get`.
 */
export interface TaskStore {
  create(record: TaskRecord): Promise<void>;
  get(taskId: string): Promise<TaskRecord | undefined>;
  /** Applies `patch` (and `lastUpdatedAt`) unless the task is terminal; `undefined` when there is no such task. */
  update(taskId: string, patch: TaskPatch): Promise<TaskRecord | undefined>;
  delete(taskId: string): Promise<void>;
  /** Drops expired tasks; returns their ids. */
  sweep(now?: number): Promise<string[]>;
}

export interface MemoryTaskStoreOptions {
  /** Most tasks retained at once (running and finished). Default 1000. */
  maxTasks?: number;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

export const DEFAULT_MAX_TASKS = 1000;

const expired = (record: TaskRecord, now: number): boolean =>
  record.ttlMs !== null && now >= record.createdAt + record.ttlMs;

/**
 * In-process {@link TaskStore}, bounded by `maxTasks`. When full, `create`
 * first drops expired tasks, then the oldest finished one; if every retained
 * task is still running it throws {@link TaskCapacityError} rather than lose
 * one. Records are copied in and out, so callers cannot mutate stored state.
 */
export class MemoryTaskStore implements TaskStore {
  readonly maxTasks: number;
  private readonly now: () => number;
  /** Insertion order is creation order: the first finished entry is the oldest. */
  private readonly tasks = new Map<string, TaskRecord>();

  constructor(options: MemoryTaskStoreOptions = {}) {
    const max = options.maxTasks ?? DEFAULT_MAX_TASKS;
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`maxTasks must be a positive integer, got ${max}`);
    this.maxTasks = max;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.tasks.size;
  }

  async create(record: TaskRecord): Promise<void> {
    if (this.tasks.has(record.taskId)) throw new Error(`task ${record.taskId} already exists`);
    if (this.tasks.size >= this.maxTasks) await this.sweep();
    if (this.tasks.size >= this.maxTasks) {
      let oldestFinished: string | undefined;
      for (const [id, t] of this.tasks) {
        if (isTerminalStatus(t.status)) {
          oldestFinished = id;
          break;
        }
      }
      if (oldestFinished === undefined) throw new TaskCapacityError(this.maxTasks);
      this.tasks.delete(oldestFinished);
    }
    this.tasks.set(record.taskId, structuredClone(record));
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    const record = this.live(taskId);
    return record === undefined ? undefined : structuredClone(record);
  }

  async update(taskId: string, patch: TaskPatch): Promise<TaskRecord | undefined> {
    const record = this.live(taskId);
    if (record === undefined) return undefined;
    if (!isTerminalStatus(record.status)) {
      for (const [key, value] of Object.entries(structuredClone(patch))) {
        if (value === undefined) delete (record as unknown as Record<string, unknown>)[key];
        else (record as unknown as Record<string, unknown>)[key] = value;
      }
      record.lastUpdatedAt = Math.max(this.now(), record.lastUpdatedAt);
    }
    return structuredClone(record);
  }

  async delete(taskId: string): Promise<void> {
    this.tasks.delete(taskId);
  }

  async sweep(now: number = this.now()): Promise<string[]> {
    const gone: string[] = [];
    for (const [id, record] of this.tasks) {
      if (expired(record, now)) {
        this.tasks.delete(id);
        gone.push(id);
      }
    }
    return gone;
  }

  /** The stored record (not a copy), dropping it first if it has expired. */
  private live(taskId: string): TaskRecord | undefined {
    const record = this.tasks.get(taskId);
    if (record === undefined) return undefined;
    if (expired(record, this.now())) {
      this.tasks.delete(taskId);
      return undefined;
    }
    return record;
  }
}
