import { randomUUID } from 'node:crypto';
import {
  type CallToolResult,
  type InputRequiredResult,
  type InputResponse,
  ProtocolError,
  ProtocolErrorCode,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import * as z from 'zod';
import type { PipelinedServer } from '../pipeline/server.js';
import { type DeclaredTaskTool, tasksHook } from './hook.js';
import { createRun, outstanding, type Run, requestInput, stopRun, takeAnswers } from './run.js';
import { MemoryTaskStore, type TaskPatch, type TaskRecord, type TaskStore } from './store.js';
import {
  runPrepare,
  runSynchronously,
  TASK_HOST,
  type TaskContext,
  type TaskHost,
  type TaskToolDefinition,
} from './tool.js';
import {
  CLIENT_CAPABILITIES_KEY,
  type DetailedTask,
  declaresTasksExtension,
  isTerminalStatus,
  TASK_ERROR_CODES,
  TASKS_EXTENSION_ID,
} from './types.js';
import {
  failedPatch,
  missingExtension,
  outcomeOf,
  taskNotFound,
  toCreateTaskResult,
  toDetailedTask,
} from './wire.js';

/** Options of the per-instance task runtime (`createTether({ tasks })`). */
export interface TaskRuntimeOptions {
  /** Where tasks are kept. Default: a {@link MemoryTaskStore} bounded by `maxTasks`. */
  store?: TaskStore;
  /** Bound of the default store: most tasks retained (running and finished). Default 1000. */
  maxTasks?: number;
  /** Time to live of a task from its creation, in ms; `null` for unlimited. Default 1 hour. */
  ttlMs?: number | null;
  /** Polling interval suggested to clients, in ms. Default 1000. */
  pollIntervalMs?: number;
  logger?: Logger;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

export const DEFAULT_TASK_TTL_MS = 60 * 60_000;
export const DEFAULT_TASK_POLL_INTERVAL_MS = 1000;

const TaskIdParams = z.object({ taskId: z.string() });

function positiveInt(value: number | null | undefined, name: string, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (!Number.isInteger(value) || value <= 0)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** The caller a task is bound to: the verified token's fingerprint, when auth is on. */
function ownerOf(ctx: ServerContext): string | undefined {
  return ctx.http?.authInfo?.clientId;
}

/**
 * The tasks extension for one tether instance: the store, the task runs of
 * this process, and the per-server wiring. {@link attach} is called on every
 * 2026-07-28 server instance the runtime builds; the instance dies with its
 * request, the tasks it created do not.
 */
export class TaskRuntime {
  readonly store: TaskStore;
  private readonly ttlMs: number | null;
  private readonly pollIntervalMs: number;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private readonly runs = new Map<string, Run>();
  private closed = false;

  constructor(options: TaskRuntimeOptions = {}) {
    this.now = options.now ?? Date.now;
    this.ttlMs = positiveInt(options.ttlMs, 'tasks.ttlMs', DEFAULT_TASK_TTL_MS);
    this.pollIntervalMs = positiveInt(
      options.pollIntervalMs,
      'tasks.pollIntervalMs',
      DEFAULT_TASK_POLL_INTERVAL_MS,
    )!;
    this.store = options.store ?? new MemoryTaskStore({ maxTasks: options.maxTasks, now: this.now });
    this.logger = options.logger;
  }

  /** Tasks this process is running right now. */
  get running(): number {
    return this.runs.size;
  }

  /**
   * Serves the extension on a 2026-07-28 server instance: advertises it,
   * installs `tasks/get`, `tasks/update`, `tasks/cancel`, and lets
   * `registerTaskTool` find this runtime. Call before the setup function.
   */
  attach(server: PipelinedServer): void {
    const declared = new Map<string, DeclaredTaskTool>();
    const host: TaskHost = {
      declare: (tool, registered) => {
        declared.set(tool.name, { tool, registered });
      },
      call: (tool, args, ctx) => this.callTool(tool, args, ctx),
    };
    Object.defineProperty(server, TASK_HOST, { value: host, configurable: true });

    const inner = server.server;
    inner.registerCapabilities({ extensions: { [TASKS_EXTENSION_ID]: {} } });
    inner.setRequestHandler('tasks/get', { params: TaskIdParams }, (params, ctx) =>
      this.get(params.taskId, ctx),
    );
    inner.setRequestHandler('tasks/update', { params: TaskIdParams }, (params, ctx) =>
      this.update(params.taskId, ctx),
    );
    inner.setRequestHandler('tasks/cancel', { params: TaskIdParams }, (params, ctx) =>
      this.cancel(params.taskId, ctx),
    );

    // -32021 for an undeclared `required` task tool, and a flat CreateTaskResult (see tasksHook).
    server.use(tasksHook(declared, this.logger));
  }

  /** Drops expired tasks and stops the runs of tasks that are gone (expired, or deleted from the store). */
  async sweep(now: number = this.now()): Promise<void> {
    for (const taskId of await this.store.sweep(now)) this.stop(taskId, new Error('task expired'));
    for (const taskId of [...this.runs.keys()]) {
      if ((await this.store.get(taskId)) === undefined) this.stop(taskId, new Error('task expired'));
    }
  }

  /** Stops every run (shutdown); their tasks end `failed`, since nothing will finish them. */
  async close(): Promise<void> {
    this.closed = true;
    const shutdown = failedPatch({
      code: TASK_ERROR_CODES.internalError,
      message: 'The server shut down before the task finished',
    });
    await Promise.all(
      [...this.runs.keys()].map(async (taskId) => {
        this.stop(taskId, new Error('server shutting down'));
        await this.store
          .update(taskId, shutdown)
          .catch((err: unknown) => this.logger?.warn({ err, task_id: taskId }, 'task.store_failed'));
      }),
    );
  }

  // ----- tools/call -----

  private async callTool(
    tool: TaskToolDefinition,
    args: unknown,
    ctx: ServerContext,
  ): Promise<CallToolResult | InputRequiredResult> {
    if (!declaresTasksExtension(ctx.mcpReq.envelope)) {
      // `required` tools never get here on 2026-07-28 (refused at the instance); belt and braces.
      if (tool.support === 'required') throw missingExtension('tools/call');
      return runSynchronously(tool, args, ctx);
    }
    const prep = await runPrepare(tool, args, ctx);
    if ('answer' in prep) return prep.answer;
    if (this.closed) throw new ProtocolError(ProtocolErrorCode.InternalError, 'Server is shutting down');
    const now = this.now();
    const owner = ownerOf(ctx);
    const record: TaskRecord = {
      taskId: randomUUID(),
      status: 'working',
      createdAt: now,
      lastUpdatedAt: now,
      ttlMs: this.ttlMs,
      pollIntervalMs: this.pollIntervalMs,
      toolName: tool.name,
      ...(owner !== undefined ? { owner } : {}),
    };
    // Durable before it is announced: a tasks/get right after the CreateTaskResult must find it.
    await this.store.create(record);
    this.logger?.debug({ task_id: record.taskId, tool: tool.name }, 'task.created');
    const declared = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_KEY];
    this.start(record.taskId, tool, args, prep.prepared, (declared ?? {}) as Record<string, unknown>);
    return toCreateTaskResult(record) as unknown as CallToolResult;
  }

  private start(
    taskId: string,
    tool: TaskToolDefinition,
    args: unknown,
    prepared: unknown,
    clientCapabilities: Record<string, unknown>,
  ): void {
    const run = createRun(clientCapabilities);
    const { controller } = run;
    this.runs.set(taskId, run);
    const task: TaskContext<unknown> = {
      mode: 'task',
      taskId,
      signal: controller.signal,
      prepared,
      request: undefined,
      requestInput: (requests) => requestInput(run, requests, (patch) => this.write(taskId, run, patch)),
      setStatusMessage: async (message) => {
        if (!controller.signal.aborted) await this.write(taskId, run, { statusMessage: message });
      },
    };
    const finish = async (settled: { result: unknown } | { error: unknown }) => {
      if (this.runs.get(taskId) === run) this.runs.delete(taskId);
      if (controller.signal.aborted) return; // cancelled, expired or shut down: the store already says so
      let updated: TaskRecord | undefined;
      try {
        updated = await this.write(taskId, run, outcomeOf(settled));
      } catch (err) {
        // E.g. a result the store cannot hold: the task must still end.
        const message = `The task result could not be stored: ${(err as Error).message}`;
        updated = await this.write(
          taskId,
          run,
          failedPatch({ code: TASK_ERROR_CODES.internalError, message }),
        );
      }
      this.logger?.debug({ task_id: taskId, status: updated?.status }, 'task.finished');
    };
    Promise.resolve()
      .then(() => tool.handler(args, task))
      .then(
        (result) => finish({ result }),
        (error: unknown) => finish({ error }),
      )
      .catch((err: unknown) => this.logger?.error({ err, task_id: taskId }, 'task.store_failed'));
  }

  /** A store write of a run, after the ones it made before. */
  private write(taskId: string, run: Run, patch: TaskPatch): Promise<TaskRecord | undefined> {
    const next = run.writes.then(() => this.store.update(taskId, patch));
    run.writes = next.catch((err: unknown) =>
      this.logger?.error({ err, task_id: taskId }, 'task.store_failed'),
    );
    return next;
  }

  private stop(taskId: string, reason: Error): void {
    const run = this.runs.get(taskId);
    if (run === undefined) return;
    this.runs.delete(taskId);
    stopRun(run, reason);
  }

  // ----- tasks/* -----

  /** The task, if it exists and belongs to the caller; the extension gate first. */
  private async find(method: string, taskId: string, ctx: ServerContext): Promise<TaskRecord> {
    if (!declaresTasksExtension(ctx.mcpReq.envelope)) throw missingExtension(method);
    const record = await this.store.get(taskId);
    if (record === undefined) this.stop(taskId, new Error('task expired'));
    if (record === undefined || record.owner !== ownerOf(ctx)) throw taskNotFound(taskId);
    return record;
  }

  private async get(taskId: string, ctx: ServerContext): Promise<Record<string, unknown>> {
    const detailed: DetailedTask = toDetailedTask(await this.find('tasks/get', taskId, ctx));
    return { ...detailed };
  }

  /**
   * Delivers input responses. Keys that are not outstanding are ignored; the
   * task stays `input_required` until every outstanding key is answered.
   */
  private async update(taskId: string, ctx: ServerContext): Promise<Record<string, never>> {
    const record = await this.find('tasks/update', taskId, ctx);
    const run = this.runs.get(taskId);
    if (run === undefined || isTerminalStatus(record.status)) return {};
    const responses = (ctx.mcpReq.inputResponses ?? {}) as Record<string, InputResponse>;
    const answered = takeAnswers(run, responses);
    if (answered.length === 0) return {};
    // The status first, then wake the handler: its next requestInput must not be overwritten.
    await this.write(
      taskId,
      run,
      run.pending.size > 0
        ? { status: 'input_required', inputRequests: outstanding(run) }
        : { status: 'working', inputRequests: undefined },
    );
    for (const answer of answered) answer();
    return {};
  }

  /** Cancels at once: the task is `cancelled` and its handler's `signal` aborted. Idempotent. */
  private async cancel(taskId: string, ctx: ServerContext): Promise<Record<string, never>> {
    const record = await this.find('tasks/cancel', taskId, ctx);
    if (isTerminalStatus(record.status)) return {};
    await this.store.update(taskId, {
      status: 'cancelled',
      statusMessage: 'Cancelled by the client',
      inputRequests: undefined,
    });
    this.stop(taskId, new Error('task cancelled'));
    this.logger?.debug({ task_id: taskId }, 'task.cancelled');
    return {};
  }
}
