import {
  type CallToolResult,
  type Icon,
  type InputRequest,
  type InputRequiredResult,
  type InputResponse,
  inputRequired,
  isInputRequiredResult,
  type McpServer,
  type RegisteredTool,
  type ScopeChallengeHandler,
  type ServerContext,
  type StandardSchemaWithJSON,
  type ToolAnnotations,
} from '@modelcontextprotocol/server';
import type { TaskSupport } from './types.js';

/** The arguments a handler receives: the parsed `inputSchema` output, or `{}` without a schema. */
export type TaskToolArgs<InputArgs extends StandardSchemaWithJSON | undefined> =
  InputArgs extends StandardSchemaWithJSON
    ? StandardSchemaWithJSON.InferOutput<InputArgs>
    : Record<string, never>;

/**
 * What a task tool's handler gets instead of the request context: the work
 * may outlive the `tools/call` request that started it.
 */
export interface TaskContext<Prepared = undefined> {
  /**
   * `'task'`: running detached, as the task `taskId` (the client declared the
   * extension). `'sync'`: running inside the `tools/call` request, without a
   * task (the client did not declare the extension, or a 2025-era session).
   */
  readonly mode: 'task' | 'sync';
  /** The task id in `'task'` mode. */
  readonly taskId: string | undefined;
  /** Aborted by `tasks/cancel` (task mode) or when the request is cancelled (sync mode). */
  readonly signal: AbortSignal;
  /** What `prepare` returned (`undefined` without `prepare`). */
  readonly prepared: Prepared;
  /** The request's own context, in `'sync'` mode only. */
  readonly request: ServerContext | undefined;
  /**
   * Asks the client for input (build entries with `inputRequired.elicit(...)`,
   * `inputRequired.createMessage(...)`, `inputRequired.listRoots()`) and
   * resolves with the responses keyed like `requests`.
   *
   * Task mode: the task goes to `input_required` with these `inputRequests`
   * (plus any other outstanding ones) until `tasks/update` has answered every
   * key of this call. Keys must be unique over the task's lifetime.
   *
   * Sync mode: a multi-round-trip request. When the retried request already
   * carries all the answers they are returned; otherwise the run is abandoned
   * and the request is answered with an `input_required` result, and the
   * handler runs again from the start on the retry (2025-era sessions: the SDK
   * fulfils it with real server-to-client requests). Do not catch the
   * rejection that abandons the run.
   */
  requestInput(requests: Record<string, InputRequest>): Promise<Record<string, InputResponse>>;
  /** Sets the task's `statusMessage` (no-op in sync mode). */
  setStatusMessage(message: string): Promise<void>;
}

/** Tool metadata as for `McpServer.registerTool`, plus the task options. `outputSchema` is not supported. */
export interface TaskToolConfig<InputArgs extends StandardSchemaWithJSON | undefined, Prepared> {
  title?: string;
  description?: string;
  inputSchema?: InputArgs;
  annotations?: ToolAnnotations;
  icons?: Icon[];
  scopeChallenge?: ScopeChallengeHandler;
  _meta?: Record<string, unknown>;
  /**
   * `'optional'` (default): a task when the request declares the extension,
   * otherwise the handler runs inside the request. `'required'`: a request
   * that does not declare the extension is refused with -32021.
   */
  taskSupport?: TaskSupport;
  /**
   * Runs inside the `tools/call` request before any task exists, with the
   * full request context. Return `inputRequired(...)` to gather input first
   * (multi-round-trip; the task is created on the round that returns anything
   * else); the value returned is handed to the handler as `task.prepared`.
   */
  prepare?: (
    args: TaskToolArgs<InputArgs>,
    ctx: ServerContext,
  ) => Prepared | InputRequiredResult | Promise<Prepared | InputRequiredResult>;
}

/**
 * The work. Return the tool result (`isError: true` for a tool error: the
 * task still `completed`). Throw a `ProtocolError` (anything with a numeric
 * `code`) for a protocol-level failure: the task `failed` with that error.
 * Any other throw becomes an `isError` result, as for ordinary tools.
 */
export type TaskToolHandler<InputArgs extends StandardSchemaWithJSON | undefined, Prepared> = (
  args: TaskToolArgs<InputArgs>,
  task: TaskContext<Prepared>,
) => CallToolResult | Promise<CallToolResult>;

/** A registered task tool, as the runtime sees it (untyped: it may come from another copy of this module). */
export interface TaskToolDefinition {
  name: string;
  support: TaskSupport;
  prepare?: (args: unknown, ctx: ServerContext) => unknown;
  handler: (args: unknown, task: TaskContext<unknown>) => CallToolResult | Promise<CallToolResult>;
}

/**
 * What the runtime attaches to every 2026-07-28 server instance it builds,
 * under {@link TASK_HOST}. A registry symbol (not a module-level map) so a
 * tools module that loaded its own copy of mcp-tether still finds it.
 */
export interface TaskHost {
  /** Records a task tool of this instance (for the -32021 gate). */
  declare(tool: TaskToolDefinition, registered: RegisteredTool): void;
  /** Serves one `tools/call` of a task tool (called from the tool's `McpServer` callback). */
  call(
    tool: TaskToolDefinition,
    args: unknown,
    ctx: ServerContext,
  ): Promise<CallToolResult | InputRequiredResult>;
}

export const TASK_HOST: unique symbol = Symbol.for('mcp-tether.tasks.host.v1') as never;

/** The task host the runtime attached to `server`, if any. */
export function taskHostOf(server: McpServer): TaskHost | undefined {
  return (server as unknown as { [TASK_HOST]?: TaskHost })[TASK_HOST];
}

/**
 * Runs `prepare` (when given). Returns the input-required result to answer
 * with, or the prepared value.
 */
export async function runPrepare(
  tool: TaskToolDefinition,
  args: unknown,
  ctx: ServerContext,
): Promise<{ answer: InputRequiredResult } | { prepared: unknown }> {
  if (tool.prepare === undefined) return { prepared: undefined };
  const prepared = await tool.prepare(args, ctx);
  return isInputRequiredResult(prepared) ? { answer: prepared } : { prepared };
}

/**
 * Serves a task tool inside its `tools/call` request, without a task.
 * `requestInput` becomes a multi-round-trip exchange (see {@link TaskContext.requestInput}).
 */
export async function runSynchronously(
  tool: TaskToolDefinition,
  args: unknown,
  ctx: ServerContext,
): Promise<CallToolResult | InputRequiredResult> {
  const prep = await runPrepare(tool, args, ctx);
  if ('answer' in prep) return prep.answer;
  const wanted = new Map<string, InputRequest>();
  const responses = (ctx.mcpReq.inputResponses ?? {}) as Record<string, InputResponse>;
  const task: TaskContext<unknown> = {
    mode: 'sync',
    taskId: undefined,
    signal: ctx.mcpReq.signal,
    prepared: prep.prepared,
    request: ctx,
    async requestInput(requests) {
      const keys = Object.keys(requests);
      const missing = keys.filter((key) => responses[key] === undefined);
      if (missing.length === 0) return Object.fromEntries(keys.map((key) => [key, responses[key]!]));
      for (const key of missing) wanted.set(key, requests[key]!);
      throw new Error(`input required: ${missing.join(', ')} (answered by an input_required result)`);
    },
    async setStatusMessage() {},
  };
  try {
    return await tool.handler(args, task);
  } catch (err) {
    // The run stopped at requestInput: answer with what it (and any parallel call) asked for.
    if (wanted.size > 0) return inputRequired({ inputRequests: Object.fromEntries(wanted) });
    throw err;
  }
}

/**
 * Registers a tool that may run as a task (MCP Tasks extension, SEP-2663).
 *
 * On a 2026-07-28 request that declares `io.modelcontextprotocol/tasks` in its
 * client capabilities, the call is answered at once with a `CreateTaskResult`
 * (`resultType: "task"`) and the handler runs detached; the client polls
 * `tasks/get`, answers input with `tasks/update`, and may `tasks/cancel`.
 * Otherwise (no extension, or a 2025-era session) an `'optional'` tool runs
 * inside the request like any tool, and a `'required'` one is refused with
 * -32021 on 2026-07-28.
 *
 * Works on any `McpServer`; the task behaviour needs the server to have been
 * built by mcp-tether (elsewhere every call runs synchronously).
 *
 * @example
 * registerTaskTool(
 *   server,
 *   'render_report',
 *   { description: 'Renders a report', inputSchema: z.object({ month: z.string() }) },
 *   async ({ month }, task) => {
 *     const pdf = await render(month, { signal: task.signal });
 *     return { content: [{ type: 'text', text: pdf.url }] };
 *   },
 * );
 */
export function registerTaskTool<
  InputArgs extends StandardSchemaWithJSON | undefined = undefined,
  Prepared = undefined,
>(
  server: McpServer,
  name: string,
  config: TaskToolConfig<InputArgs, Prepared>,
  handler: TaskToolHandler<InputArgs, Prepared>,
): RegisteredTool {
  const { taskSupport = 'optional', prepare, ...toolConfig } = config;
  if (taskSupport !== 'optional' && taskSupport !== 'required') {
    throw new TypeError(`registerTaskTool(${name}): taskSupport must be 'optional' or 'required'`);
  }
  const tool: TaskToolDefinition = {
    name,
    support: taskSupport,
    ...(prepare ? { prepare: prepare as TaskToolDefinition['prepare'] } : {}),
    handler: handler as TaskToolDefinition['handler'],
  };
  const host = taskHostOf(server);
  const call = (args: unknown, ctx: ServerContext) =>
    host ? host.call(tool, args, ctx) : runSynchronously(tool, args, ctx);
  const register = server.registerTool.bind(server) as (
    name: string,
    config: object,
    cb: (...params: never[]) => unknown,
  ) => RegisteredTool;
  const registered =
    toolConfig.inputSchema === undefined
      ? register(name, toolConfig, (ctx: ServerContext) => call({}, ctx))
      : register(name, toolConfig, (args: unknown, ctx: ServerContext) => call(args, ctx));
  host?.declare(tool, registered);
  return registered;
}
