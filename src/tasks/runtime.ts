import { randomUUID } from 'node:crypto';
import {
  type CallToolResult,
  type InputRequest,
  type InputRequiredResult,
  type InputResponse,
  isInputRequiredResult,
  type JSONRPCMessage,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
  type RegisteredTool,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import * as z from 'zod';
import type { PipelinedServer } from '../pipeline/server.js';
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
  type CreateTaskResult,
  type DetailedTask,
  declaresTasksExtension,
  isTerminalStatus,
  missingTasksCapabilityData,
  TASK_ERROR_CODES,
  TASKS_EXTENSION_ID,
  type TaskError,
} from './types.js';

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

/** The live side of a task this process is running: what the store cannot hold. */
interface Run {
  controller: AbortController;
  /** Outstanding input requests, by key. */
  pending: Map<string, { request: InputRequest; answer(response: InputResponse): void }>;
  /** Every key ever requested (keys are unique over a task's lifetime). */
  usedKeys: Set<string>;
  /** Rejecters of the `requestInput` promises still waiting. */
  waiting: Set<(reason: Error) => void>;
  /** The run's store writes, in order. */
  writes: Promise<unknown>;
  /** What the request that created the task declared: input requests must stay within it. */
  clientCapabilities: Record<string, unknown>;
}

const TaskIdParams = z.object({ taskId: z.string() });

const iso = (ms: number) => new Date(ms).toISOString();

function positiveInt(value: number | null | undefined, name: string, fallback: number | null): number | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (!Number.isInteger(value) || value <= 0)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** The flat `Task` fields of a record, as sent on the wire. */
function wireTask(record: TaskRecord) {
  return {
    taskId: record.taskId,
    status: record.status,
    ...(record.statusMessage !== undefined ? { statusMessage: record.statusMessage } : {}),
    createdAt: iso(record.createdAt),
    lastUpdatedAt: iso(record.lastUpdatedAt),
    ttlMs: record.ttlMs,
    ...(record.pollIntervalMs !== undefined ? { pollIntervalMs: record.pollIntervalMs } : {}),
  };
}

/** `tasks/get`: the task with what its status carries inlined. */
export function toDetailedTask(record: TaskRecord): DetailedTask {
  const base = wireTask(record);
  switch (record.status) {
    case 'input_required':
      return { ...base, status: 'input_required', inputRequests: record.inputRequests ?? {} };
    case 'completed':
      return { ...base, status: 'completed', result: record.result ?? { content: [] } };
    case 'failed':
      return {
        ...base,
        status: 'failed',
        error: record.error ?? { code: TASK_ERROR_CODES.internalError, message: 'Task failed' },
      };
    default:
      return { ...base, status: record.status };
  }
}

/** The `tools/call` answer that hands out a task. */
export function toCreateTaskResult(record: TaskRecord): CreateTaskResult {
  return { resultType: 'task', ...wireTask(record) };
}

/**
 * How a finished handler run lands on the task: a result `completed`; a
 * thrown error with a numeric `code` (a `ProtocolError`) `failed`; any other
 * throw an `isError` result, as `McpServer` does for an ordinary tool.
 */
export function outcomeOf(settled: { result: unknown } | { error: unknown }): TaskPatch {
  if ('result' in settled) {
    const result = settled.result;
    if (isInputRequiredResult(result) || typeof result !== 'object' || result === null) {
      return failedPatch({
        code: TASK_ERROR_CODES.internalError,
        message: isInputRequiredResult(result)
          ? 'A task handler returned an input_required result; ask for input with task.requestInput(...)'
          : 'A task handler returned no result object',
      });
    }
    const toolResult = result as CallToolResult;
    return {
      status: 'completed',
      result: toolResult.content === undefined ? { ...toolResult, content: [] } : toolResult,
      inputRequests: undefined,
    };
  }
  const err = settled.error as { code?: unknown; message?: unknown; data?: unknown } | undefined;
  const message = typeof err?.message === 'string' ? err.message : String(settled.error);
  if (typeof err?.code === 'number' && Number.isInteger(err.code)) {
    return failedPatch({ code: err.code, message, ...(err.data !== undefined ? { data: err.data } : {}) });
  }
  return {
    status: 'completed',
    result: { content: [{ type: 'text', text: message }], isError: true },
    inputRequests: undefined,
  };
}

function failedPatch(error: TaskError): TaskPatch {
  return { status: 'failed', error, statusMessage: error.message, inputRequests: undefined };
}

function taskNotFound(taskId: string): ProtocolError {
  return new ProtocolError(
    ProtocolErrorCode.InvalidParams,
    `Failed to retrieve task: Task not found (${taskId})`,
  );
}

function missingExtension(method: string): MissingRequiredClientCapabilityError {
  return new MissingRequiredClientCapabilityError(
    missingTasksCapabilityData(),
    `Missing required client capability: ${method} needs the ${TASKS_EXTENSION_ID} extension`,
  );
}

/** The caller a task is bound to: the verified token's fingerprint, when auth is on. */
function ownerOf(ctx: ServerContext): string | undefined {
  return ctx.http?.authInfo?.clientId;
}

/** The `content: []` the SDK's `tools/call` path adds to a result without content, on a CreateTaskResult. */
function withoutAddedContent(message: JSONRPCMessage): JSONRPCMessage | undefined {
  const result = (message as { result?: unknown }).result as Record<string, unknown> | undefined;
  if (typeof result !== 'object' || result === null || result.resultType !== 'task') return undefined;
  if (!Array.isArray(result.content) || result.content.length > 0) return undefined;
  const { content: _added, ...flat } = result;
  return { ...message, result: flat } as JSONRPCMessage;
}

/** The client capabilities an input request needs (none of them may be sent to a client that lacks them). */
function missingForInput(
  request: InputRequest,
  declared: Record<string, unknown>,
): Record<string, object> | undefined {
  const has = (name: string) => typeof declared[name] === 'object' && declared[name] !== null;
  switch (request.method) {
    case 'elicitation/create': {
      const url = (request.params as { mode?: unknown } | undefined)?.mode === 'url';
      const elicitation = declared.elicitation as Record<string, unknown> | undefined;
      if (!has('elicitation')) return { elicitation: url ? { url: {} } : {} };
      return url && typeof elicitation?.url !== 'object' ? { elicitation: { url: {} } } : undefined;
    }
    case 'sampling/createMessage':
      return has('sampling') ? undefined : { sampling: {} };
    case 'roots/list':
      return has('roots') ? undefined : { roots: {} };
    default:
      return undefined;
  }
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
    const declared = new Map<string, { tool: TaskToolDefinition; registered: RegisteredTool }>();
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

    // The one thing a tool callback cannot do: answer JSON-RPC -32021 (McpServer turns a
    // throw from a tool into an `isError` result). A `tools/call` of a `required` task tool
    // that does not declare the extension is therefore refused as the request reaches the
    // instance, after the SDK's edge checks (headers, version) and before McpServer
    // dispatches it. The same seam removes the `content: []` the SDK's tools/call path adds
    // to a result without content, so a CreateTaskResult goes out flat.
    server.use((link) => ({
      inbound: (message) => {
        const refusal = refuseUndeclared(message, declared);
        if (refusal === undefined) return undefined;
        link.send(refusal).catch((err: unknown) => this.logger?.warn({ err }, 'tasks.refusal_failed'));
        return false;
      },
      outbound: (message) => withoutAddedContent(message) ?? message,
    }));
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
    const controller = new AbortController();
    const run: Run = {
      controller,
      pending: new Map(),
      usedKeys: new Set(),
      waiting: new Set(),
      writes: Promise.resolve(),
      clientCapabilities,
    };
    this.runs.set(taskId, run);
    const task: TaskContext<unknown> = {
      mode: 'task',
      taskId,
      signal: controller.signal,
      prepared,
      request: undefined,
      requestInput: (requests) => this.requestInput(taskId, run, requests),
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

  private outstanding(run: Run): Record<string, InputRequest> {
    return Object.fromEntries([...run.pending].map(([key, p]) => [key, p.request]));
  }

  /** Not `async`: the promise handed out is the one a cancellation rejects, and it is marked handled. */
  private requestInput(
    taskId: string,
    run: Run,
    requests: Record<string, InputRequest>,
  ): Promise<Record<string, InputResponse>> {
    if (run.controller.signal.aborted) return Promise.reject(new Error('task is no longer running'));
    const keys = Object.keys(requests);
    if (keys.length === 0) return Promise.resolve({});
    const reused = keys.find((key) => run.usedKeys.has(key));
    if (reused !== undefined) {
      return Promise.reject(new Error(`input key "${reused}" was already used by this task`));
    }
    for (const key of keys) {
      const missing = missingForInput(requests[key]!, run.clientCapabilities);
      if (missing !== undefined) {
        return Promise.reject(
          new MissingRequiredClientCapabilityError(
            { requiredCapabilities: missing },
            `Cannot request input '${key}' (${requests[key]!.method}): the client did not declare the capability`,
          ),
        );
      }
    }
    const answers: Record<string, InputResponse> = {};
    const done = new Promise<Record<string, InputResponse>>((resolve, reject) => {
      let left = keys.length;
      run.waiting.add(reject);
      for (const key of keys) {
        run.usedKeys.add(key);
        run.pending.set(key, {
          request: requests[key]!,
          answer: (response) => {
            answers[key] = response;
            if (--left === 0) {
              run.waiting.delete(reject);
              resolve(answers);
            }
          },
        });
      }
    });
    // A handler that dropped the promise must not take the process down when a cancel rejects it.
    done.catch(() => {});
    // Logged by `write`; a failed store write must not become an unhandled rejection.
    this.write(taskId, run, { status: 'input_required', inputRequests: this.outstanding(run) }).catch(
      () => {},
    );
    return done;
  }

  private stop(taskId: string, reason: Error): void {
    const run = this.runs.get(taskId);
    if (run === undefined) return;
    this.runs.delete(taskId);
    run.controller.abort(reason);
    for (const reject of run.waiting) reject(reason);
    run.waiting.clear();
    run.pending.clear();
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
    const answered: Array<[(response: InputResponse) => void, InputResponse]> = [];
    for (const [key, response] of Object.entries(responses)) {
      const pending = run.pending.get(key);
      if (pending === undefined) continue;
      run.pending.delete(key);
      answered.push([pending.answer, response]);
    }
    if (answered.length === 0) return {};
    // The status first, then wake the handler: its next requestInput must not be overwritten.
    await this.write(
      taskId,
      run,
      run.pending.size > 0
        ? { status: 'input_required', inputRequests: this.outstanding(run) }
        : { status: 'working', inputRequests: undefined },
    );
    for (const [answer, response] of answered) answer(response);
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

/**
 * The -32021 answer for a `tools/call` of a `required` task tool whose request
 * does not declare the extension, or `undefined` to let the request through.
 */
function refuseUndeclared(
  message: JSONRPCMessage,
  declared: ReadonlyMap<string, { tool: TaskToolDefinition; registered: RegisteredTool }>,
): JSONRPCMessage | undefined {
  const request = message as { id?: unknown; method?: unknown; params?: { name?: unknown; _meta?: unknown } };
  if (request.method !== 'tools/call' || request.id === undefined) return undefined;
  const name = request.params?.name;
  if (typeof name !== 'string') return undefined;
  const entry = declared.get(name);
  if (entry === undefined || entry.tool.support !== 'required' || !entry.registered.enabled) return undefined;
  if (declaresTasksExtension(request.params?._meta)) return undefined;
  return {
    jsonrpc: '2.0',
    id: request.id as string | number,
    error: {
      code: TASK_ERROR_CODES.missingRequiredClientCapability,
      message: `Missing required client capability: tool ${name} runs only as a task (${TASKS_EXTENSION_ID})`,
      data: missingTasksCapabilityData(),
    },
  };
}
