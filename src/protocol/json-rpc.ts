import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/server';

/** Whether a parsed value is a JSON-RPC 2.0 message (request, notification or response). */
export function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return false;
  if (typeof m.method === 'string')
    return m.id === undefined || typeof m.id === 'string' || typeof m.id === 'number';
  return (typeof m.id === 'string' || typeof m.id === 'number') && ('result' in m || 'error' in m);
}

/** Whether a JSON-RPC message is a response (result or error). */
export function isResponse(message: JSONRPCMessage): message is JSONRPCMessage & { id: string | number } {
  return !('method' in message) && ('result' in message || 'error' in message);
}

/** Whether a JSON-RPC message is a request (has a method and an id). */
export function isRequest(
  message: JSONRPCMessage,
): message is JSONRPCMessage & { id: string | number; method: string } {
  return 'method' in message && 'id' in message && message.id !== undefined && message.id !== null;
}

/** The id of a parsed message, when it has a usable one. */
export function idOf(value: unknown): string | number | null {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

/**
 * The request a `notifications/cancelled` cancels (`params.requestId`), or
 * `undefined` for any other message or an id that is not a string or number.
 *
 * @example
 * cancelledRequestId({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } }); // 7
 */
export function cancelledRequestId(message: JSONRPCMessage): RequestId | undefined {
  if (!('method' in message) || message.method !== 'notifications/cancelled') return undefined;
  const requestId = (message.params as { requestId?: unknown } | undefined)?.requestId;
  return typeof requestId === 'string' || typeof requestId === 'number' ? requestId : undefined;
}

/** A JSON-RPC error response object; src/errors.ts `rpcErrorOf` builds one from a registry code. */
export function rpcError(code: number, message: string, id: string | number | null = null): JSONRPCMessage {
  return { jsonrpc: '2.0', id, error: { code, message } } as JSONRPCMessage;
}
