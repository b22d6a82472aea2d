/**
 * Wire vocabulary of the MCP Tasks extension (SEP-2663, `io.modelcontextprotocol/tasks`)
 * for protocol revision 2026-07-28. The SDK (`@modelcontextprotocol/server` 2.4.0) has
 * no public tasks API, so the shapes live here.
 */
import type { CallToolResult, InputRequest } from '@modelcontextprotocol/server';

/** The extension identifier, as declared under `capabilities.extensions`. */
export const TASKS_EXTENSION_ID = 'io.modelcontextprotocol/tasks';

/** `_meta` key of the per-request client capabilities (2026-07-28 envelope). */
export const CLIENT_CAPABILITIES_KEY = 'io.modelcontextprotocol/clientCapabilities';

/** JSON-RPC error codes the extension answers with. */
export const TASK_ERROR_CODES = {
  /** Unknown (or expired, or someone else's) task id. */
  invalidParams: -32602,
  /** A protocol-level failure of the work behind a task. */
  internalError: -32603,
  /** The request needs the tasks extension and the client did not declare it (SEP-2575). */
  missingRequiredClientCapability: -32021,
} as const;

export type TaskStatus = 'working' | 'input_required' | 'completed' | 'failed' | 'cancelled';

const TERMINAL: ReadonlySet<TaskStatus> = new Set(['completed', 'failed', 'cancelled']);

/** `completed`, `failed` and `cancelled` are terminal: a task never leaves them. */
export function isTerminalStatus(status: TaskStatus): boolean {
  return TERMINAL.has(status);
}

/** How a tool takes part in the extension. */
export type TaskSupport = 'optional' | 'required';

/** A JSON-RPC error as inlined in a failed task. */
export interface TaskError {
  code: number;
  message: string;
  data?: unknown;
}

/** The `Task` base shape (flat on the wire; durations are integer milliseconds). */
export interface Task {
  taskId: string;
  status: TaskStatus;
  statusMessage?: string;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601. */
  lastUpdatedAt: string;
  /** Time to live from creation; `null` means unlimited. */
  ttlMs: number | null;
  pollIntervalMs?: number;
}

/** What `tasks/get` returns (before the SDK stamps `resultType: "complete"`). */
export type DetailedTask =
  | (Task & { status: 'working' | 'cancelled' })
  | (Task & { status: 'input_required'; inputRequests: Record<string, InputRequest> })
  | (Task & { status: 'completed'; result: CallToolResult })
  | (Task & { status: 'failed'; error: TaskError });

/** A `tools/call` answered with a task handle instead of its result. */
export type CreateTaskResult = Task & { resultType: 'task' };

/** Whether the request's own `_meta` envelope declares the tasks extension. */
export function declaresTasksExtension(envelopeOrMeta: unknown): boolean {
  if (typeof envelopeOrMeta !== 'object' || envelopeOrMeta === null) return false;
  const caps = (envelopeOrMeta as Record<string, unknown>)[CLIENT_CAPABILITIES_KEY];
  if (typeof caps !== 'object' || caps === null) return false;
  const extensions = (caps as { extensions?: unknown }).extensions;
  if (typeof extensions !== 'object' || extensions === null) return false;
  const declared = (extensions as Record<string, unknown>)[TASKS_EXTENSION_ID];
  return typeof declared === 'object' && declared !== null;
}

/** The `data` of a -32021 error naming the tasks extension as the missing capability. */
export function missingTasksCapabilityData(): {
  requiredCapabilities: { extensions: Record<string, Record<string, never>> };
} {
  return { requiredCapabilities: { extensions: { [TASKS_EXTENSION_ID]: {} } } };
}
