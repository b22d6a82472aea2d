import {
  type CallToolResult,
  isInputRequiredResult,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ProtocolErrorCode,
} from '@modelcontextprotocol/server';
import type { TaskPatch, TaskRecord } from './store.js';
import {
  type CreateTaskResult,
  type DetailedTask,
  missingTasksCapabilityData,
  TASK_ERROR_CODES,
  TASKS_EXTENSION_ID,
  type TaskError,
} from './types.js';

const iso = (ms: number) => new Date(ms).toISOString();

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

/** The transition to `failed` with `error` (its message doubles as the status message). */
export function failedPatch(error: TaskError): TaskPatch {
  return { status: 'failed', error, statusMessage: error.message, inputRequests: undefined };
}

/** -32602 for an unknown, expired or someone else's task id. */
export function taskNotFound(taskId: string): ProtocolError {
  return new ProtocolError(
    ProtocolErrorCode.InvalidParams,
    `Failed to retrieve task: Task not found (${taskId})`,
  );
}

/** -32021 for a `method` called from a request that does not declare the extension. */
export function missingExtension(method: string): MissingRequiredClientCapabilityError {
  return new MissingRequiredClientCapabilityError(
    missingTasksCapabilityData(),
    `Missing required client capability: ${method} needs the ${TASKS_EXTENSION_ID} extension`,
  );
}
