import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { rpcError } from './protocol/json-rpc.js';

/**
 * Every error the HTTP edge answers with (or writes on a stream, see
 * {@link rpcErrorOf}): code, HTTP status, JSON-RPC error code and message. Documented in docs/errors.md; a test fails when a code
 * is missing there.
 *
 * @example
 * ERRORS.TETHER_ERR_SESSION_NOT_FOUND.status; // 404
 */
export const ERRORS = {
  TETHER_ERR_HTTP_NOT_FOUND: { status: 404, rpc: -32000, message: 'Not found' },
  TETHER_ERR_HTTP_METHOD_NOT_ALLOWED: { status: 405, rpc: -32000, message: 'Method not allowed' },
  TETHER_ERR_HTTP_NOT_ACCEPTABLE: {
    status: 406,
    rpc: -32000,
    message: 'Not Acceptable: the client must accept application/json and text/event-stream',
  },
  TETHER_ERR_HTTP_SSE_NOT_ACCEPTABLE: {
    status: 406,
    rpc: -32000,
    message: 'Not Acceptable: the client must accept text/event-stream',
  },
  TETHER_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    rpc: -32000,
    message: 'Unsupported Media Type: Content-Type must be application/json',
  },
  TETHER_ERR_HTTP_BODY_TOO_LARGE: { status: 413, rpc: -32000, message: 'Request body too large' },
  TETHER_ERR_HTTP_BODY_CONSUMED: {
    status: 500,
    rpc: -32603,
    message:
      'Internal error: the request body was read by another middleware; mount mcp-tether before body parsers or leave the parsed body on req.body',
  },
  TETHER_ERR_HTTP_FORBIDDEN_ORIGIN: { status: 403, rpc: -32000, message: 'Forbidden: Origin not allowed' },
  TETHER_ERR_HTTP_FORBIDDEN_HOST: { status: 403, rpc: -32000, message: 'Forbidden: Host not allowed' },
  TETHER_ERR_HTTP_UNAVAILABLE: {
    status: 503,
    rpc: -32000,
    message: 'Service unavailable: the server is draining',
  },
  TETHER_ERR_HTTP_AT_CAPACITY: {
    status: 503,
    rpc: -32000,
    message: 'Service unavailable: the server holds as many streams as it accepts; retry later',
  },
  TETHER_ERR_HTTP_CLIENT_AT_CAPACITY: {
    status: 503,
    rpc: -32000,
    message:
      'Service unavailable: this client holds as many streams as one client may; close one or retry later',
  },
  TETHER_ERR_RPC_PARSE: { status: 400, rpc: -32700, message: 'Parse error: the body is not valid JSON' },
  TETHER_ERR_RPC_INVALID_REQUEST: { status: 400, rpc: -32600, message: 'Invalid Request' },
  TETHER_ERR_RPC_INVALID_PARAMS: { status: 400, rpc: -32602, message: 'Invalid params' },
  TETHER_ERR_RPC_DUPLICATE_ID: {
    status: 400,
    rpc: -32600,
    message: 'Invalid Request: a request id is used twice (in the batch, or by a request still running)',
  },
  TETHER_ERR_RPC_BATCH_TOO_LARGE: {
    status: 400,
    rpc: -32600,
    message: 'Invalid Request: batch too large',
  },
  TETHER_ERR_RPC_SESSION_BUSY: {
    status: 429,
    rpc: -32000,
    message: 'Server busy: this session has as many requests running as one session may; retry when one ends',
  },
  TETHER_ERR_RPC_SERVER_BUSY: {
    status: 503,
    rpc: -32000,
    message: 'Server busy: the server runs as many requests as it accepts; retry later',
  },
  TETHER_ERR_SESSION_REQUIRED: {
    status: 400,
    rpc: -32000,
    message: 'Bad Request: Mcp-Session-Id header is required',
  },
  TETHER_ERR_SESSION_INITIALIZE_TOO_LARGE: {
    status: 400,
    rpc: -32602,
    message: 'Invalid params: the initialize params are larger than a session keeps',
  },
  TETHER_ERR_SESSION_NOT_FOUND: { status: 404, rpc: -32001, message: 'Session not found' },
  TETHER_ERR_SESSION_PROTOCOL_VERSION: {
    status: 400,
    rpc: -32000,
    message: 'Bad Request: unsupported MCP-Protocol-Version',
  },
  TETHER_ERR_SESSION_STREAM_CONFLICT: {
    status: 409,
    rpc: -32000,
    message: 'Conflict: this session already has a standalone SSE stream',
  },
  TETHER_ERR_SESSION_BAD_LAST_EVENT_ID: {
    status: 400,
    rpc: -32000,
    message: 'Bad Request: Last-Event-ID does not belong to this session',
  },
  TETHER_ERR_SESSION_STREAM_ENDED: {
    status: 405,
    rpc: -32000,
    message:
      'Method Not Allowed: the stream named by Last-Event-ID has ended and every event of it was delivered',
  },
  TETHER_ERR_SESSION_EVENTS_EVICTED: {
    status: 410,
    rpc: -32000,
    message: 'Gone: events after Last-Event-ID are no longer kept; retry the request that opened the stream',
  },
  TETHER_ERR_AUTH_REQUIRED: { status: 401, rpc: -32000, message: 'Unauthorized: a bearer token is required' },
  TETHER_ERR_AUTH_INVALID: {
    status: 401,
    rpc: -32000,
    message: 'Unauthorized: the bearer token is not valid',
  },
  TETHER_ERR_ADMIN_DISABLED: {
    status: 403,
    rpc: -32000,
    message: 'Forbidden: the admin API is off (start the server with --admin-token)',
  },
  TETHER_ERR_ADMIN_UNAUTHORIZED: {
    status: 401,
    rpc: -32000,
    message: 'Unauthorized: the admin token is required',
  },
  TETHER_ERR_ADMIN_CONNECTION_NOT_FOUND: { status: 404, rpc: -32000, message: 'No such live connection' },
  TETHER_ERR_ADMIN_BAD_CONNECTION_ID: {
    status: 400,
    rpc: -32000,
    message: 'Bad Request: the connection id in the path is not valid percent-encoding',
  },
  TETHER_ERR_HTTP_RATE_LIMITED: {
    status: 429,
    rpc: -32000,
    message: 'Too Many Requests: session creation is rate limited for this client',
  },
  TETHER_ERR_INTERNAL: { status: 500, rpc: -32603, message: 'Internal error' },
} as const satisfies Record<string, { status: number; rpc: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * The JSON-RPC error response of a registry code, for errors that travel as a
 * message rather than an HTTP answer (an `event: error` frame on a stream, a
 * refused request of a batch answered on its stream). `detail` refines the
 * message; `tagged` adds the registry code as `data.code`, as HTTP answers carry it.
 *
 * @example
 * rpcErrorOf('TETHER_ERR_RPC_PARSE'); // { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: …' } }
 * rpcErrorOf('TETHER_ERR_RPC_SESSION_BUSY', { id: 7, tagged: true });
 */
export function rpcErrorOf(
  code: ErrorCode,
  options: { detail?: string; id?: string | number | null; tagged?: boolean } = {},
): JSONRPCMessage {
  const e = ERRORS[code];
  const message = rpcError(e.rpc, options.detail ?? e.message, options.id ?? null);
  if (options.tagged) (message as { error: { data?: unknown } }).error.data = { code };
  return message;
}

/**
 * The one place HTTP error responses are written: a JSON-RPC error body with
 * the code's status. `detail` refines the message; `headers` adds headers.
 */
export function sendError(
  res: ServerResponse,
  code: ErrorCode,
  options: { detail?: string; id?: string | number | null; headers?: Record<string, string> } = {},
): void {
  const e = ERRORS[code];
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({
    jsonrpc: '2.0',
    error: { code: e.rpc, message: options.detail ?? e.message, data: { code } },
    id: options.id ?? null,
  });
  res.writeHead(e.status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...options.headers,
  });
  res.end(body);
}
