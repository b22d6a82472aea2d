import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { type ErrorCode, rpcErrorOf, sendError } from '../../errors.js';
import { idOf, isJsonRpcMessage } from '../../protocol/json-rpc.js';
import { readBody } from './body.js';
import { acceptedTypes, accepts, isJsonContentType } from './media-types.js';

/** How one transport reads its JSON-RPC POSTs. */
export interface RequestEdgeOptions {
  maxBodyBytes: number;
  logger: Logger;
  /** `json+sse`: Accept must admit application/json and text/event-stream (Streamable HTTP); `any`: not checked. */
  accept: 'json+sse' | 'any';
  /** `json` (default): Content-Type must be application/json; `any`: not checked (the seed endpoint never asked). */
  contentType?: 'json' | 'any';
  /** `batch`: one message or a non-empty batch of them; `single`: exactly one message. */
  shape: 'batch' | 'single';
  /**
   * `answer` (default): a body that is not JSON, or not JSON-RPC, is answered 400;
   * `return`: it comes back as the JSON-RPC error for the caller to write on its stream.
   */
  invalid?: 'answer' | 'return';
  /** Whether an empty (or blank) body is accepted, as `{ kind: 'empty' }`. Default false. */
  allowEmpty?: boolean;
  /**
   * Bodies this returns true for skip the shape check and come back as `handed-off`:
   * /mcp hands 2026-07-28 requests to the SDK, which validates them itself.
   */
  handOff?(parsed: unknown): boolean;
}

/** A POST read by {@link readJsonRpcPost}. */
export type JsonRpcPost =
  | { kind: 'messages'; messages: JSONRPCMessage[]; parsed: unknown }
  | { kind: 'handed-off'; parsed: unknown }
  | { kind: 'empty' }
  | { kind: 'invalid'; error: JSONRPCMessage };

const SHAPE_DETAIL = {
  batch: 'Invalid Request: the body must be a JSON-RPC 2.0 message or a non-empty batch of them',
  single: 'Invalid Request: expected one JSON-RPC 2.0 message',
} as const;

function hasValidShape(parsed: unknown, shape: RequestEdgeOptions['shape']): boolean {
  if (!Array.isArray(parsed)) return isJsonRpcMessage(parsed);
  return shape === 'batch' && parsed.length > 0 && parsed.every(isJsonRpcMessage);
}

/**
 * The request edge of every transport: checks Accept and Content-Type, reads
 * the body under `maxBodyBytes` (or takes the `req.body` a framework left),
 * parses the JSON and checks its JSON-RPC shape. Returns what was read, or
 * `undefined` once the request has been answered with the registry's error
 * (or the client left mid-body).
 *
 * @example
 * const post = await readJsonRpcPost(req, res, { maxBodyBytes, logger, accept: 'any', shape: 'batch' });
 * if (post?.kind !== 'messages') return;
 * for (const message of post.messages) transport.deliver(message);
 */
export async function readJsonRpcPost(
  req: IncomingMessage,
  res: ServerResponse,
  options: RequestEdgeOptions,
): Promise<JsonRpcPost | undefined> {
  if (options.accept === 'json+sse') {
    const types = acceptedTypes(req);
    if (!accepts(types, 'application/json') || !accepts(types, 'text/event-stream')) {
      sendError(res, 'TETHER_ERR_HTTP_NOT_ACCEPTABLE');
      return undefined;
    }
  }
  if (options.contentType !== 'any' && !isJsonContentType(req)) {
    sendError(res, 'TETHER_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE');
    return undefined;
  }
  const body = await readBody(req, options.maxBodyBytes);
  if (!body.ok) {
    if (body.tooLarge) {
      // No `Connection: close`: the rest of the body is drained, and cutting the socket while a
      // client or proxy is still sending turns this 413 into a reset or the proxy's 502.
      sendError(res, 'TETHER_ERR_HTTP_BODY_TOO_LARGE', {
        detail: `Request body too large: the limit is ${options.maxBodyBytes} bytes`,
      });
    } else if (body.consumed) {
      options.logger.warn({ method: req.method, url: req.url }, 'request.body_already_consumed');
      sendError(res, 'TETHER_ERR_HTTP_BODY_CONSUMED');
    }
    return undefined;
  }
  if (options.allowEmpty && body.text.trim() === '') return { kind: 'empty' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.text);
  } catch {
    return refuse(res, options, 'TETHER_ERR_RPC_PARSE', null);
  }
  if (options.handOff?.(parsed)) return { kind: 'handed-off', parsed };
  if (!hasValidShape(parsed, options.shape))
    return refuse(res, options, 'TETHER_ERR_RPC_INVALID_REQUEST', idOf(parsed), SHAPE_DETAIL[options.shape]);
  return { kind: 'messages', messages: Array.isArray(parsed) ? parsed : [parsed], parsed };
}

function refuse(
  res: ServerResponse,
  options: RequestEdgeOptions,
  code: ErrorCode,
  id: string | number | null,
  detail?: string,
): JsonRpcPost | undefined {
  if (options.invalid === 'return') return { kind: 'invalid', error: rpcErrorOf(code, { id, detail }) };
  sendError(res, code, { id, detail });
  return undefined;
}
