import type { JSONRPCMessage, RegisteredTool } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { PipelineHook } from '../pipeline/pipeline.js';
import type { TaskToolDefinition } from './tool.js';
import {
  declaresTasksExtension,
  missingTasksCapabilityData,
  TASK_ERROR_CODES,
  TASKS_EXTENSION_ID,
} from './types.js';

/** A task tool one server instance registered (the gate checks it is still enabled). */
export interface DeclaredTaskTool {
  tool: TaskToolDefinition;
  registered: RegisteredTool;
}

/** The task tools one server instance registered, by name. */
export type DeclaredTaskTools = ReadonlyMap<string, DeclaredTaskTool>;

/**
 * The tasks hook of one server instance.
 *
 * The one thing a tool callback cannot do: answer JSON-RPC -32021 (McpServer turns a
 * throw from a tool into an `isError` result). A `tools/call` of a `required` task tool
 * that does not declare the extension is therefore refused as the request reaches the
 * instance, after the SDK's edge checks (headers, version) and before McpServer
 * dispatches it. The same seam removes the `content: []` the SDK's tools/call path adds
 * to a result without content, so a CreateTaskResult goes out flat.
 */
export function tasksHook(declared: DeclaredTaskTools, logger: Logger | undefined): PipelineHook {
  return (link) => ({
    inbound: (message) => {
      const refusal = refuseUndeclared(message, declared);
      if (refusal === undefined) return undefined;
      link.send(refusal).catch((err: unknown) => logger?.warn({ err }, 'tasks.refusal_failed'));
      return false;
    },
    outbound: (message) => withoutAddedContent(message) ?? message,
  });
}

/**
 * The -32021 answer for a `tools/call` of a `required` task tool whose request
 * does not declare the extension, or `undefined` to let the request through.
 */
function refuseUndeclared(message: JSONRPCMessage, declared: DeclaredTaskTools): JSONRPCMessage | undefined {
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

/** The `content: []` the SDK's `tools/call` path adds to a result without content, on a CreateTaskResult. */
function withoutAddedContent(message: JSONRPCMessage): JSONRPCMessage | undefined {
  const result = (message as { result?: unknown }).result as Record<string, unknown> | undefined;
  if (typeof result !== 'object' || result === null || result.resultType !== 'task') return undefined;
  if (!Array.isArray(result.content) || result.content.length > 0) return undefined;
  const { content: _added, ...flat } = result;
  return { ...message, result: flat } as JSONRPCMessage;
}
