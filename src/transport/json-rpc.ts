import type { JSONRPCMessage } from '@modelcontextprotocol/server';

/** Whether a parsed value is a JSON-RPC 2.0 message (request, notification or response). */
export function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const m = value as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return false;
  if (typeof m.method === 'string')
    return m.id === undefined || typeof m.id === 'string' || typeof m.id === 'number';
  return (typeof m.id === 'string' || typeof m.id === 'number') && ('result' in m || 'error' in m);
}

/** The id of a parsed message, when it has a usable one. */
export function idOf(value: unknown): string | number | null {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : null;
}

/** A JSON-RPC error response object. */
export function rpcError(code: number, message: string, id: string | number | null = null): JSONRPCMessage {
  return { jsonrpc: '2.0', error: { code, message }, id } as JSONRPCMessage;
}
