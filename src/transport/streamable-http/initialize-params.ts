import { type InitializeRequestParams, specTypeSchemas } from '@modelcontextprotocol/server';
import type { ErrorCode } from '../../errors.js';

/** What a session keeps of its client's `initialize`: enough to replay it to a rebuilt server. */
export type StoredInitializeParams = Pick<
  InitializeRequestParams,
  'protocolVersion' | 'capabilities' | 'clientInfo'
>;

/** The outcome of checking an `initialize` request before a session exists for it. */
export type InitializeCheck =
  | { ok: true; params: StoredInitializeParams }
  | { ok: false; code: ErrorCode; detail: string };

/** Longest validation message passed on to the client; the rest of a schema report is noise. */
const MAX_DETAIL_CHARS = 200;

function describeIssue(issue: { path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>; message: string }) {
  const path = (issue.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
  return `${path === '' ? 'request' : path}: ${issue.message}`.slice(0, MAX_DETAIL_CHARS);
}

/**
 * Checks a client's `initialize` with the SDK's own schema and the size a
 * session may keep (`maxParamsBytes`, serialized), so a request that fails
 * either gets -32602 and no session. Returns the fields a session stores.
 *
 * @example
 * const check = checkInitialize(message, 64 * 1024);
 * if (!check.ok) sendError(res, check.code, { detail: check.detail });
 */
export function checkInitialize(message: unknown, maxParamsBytes: number): InitializeCheck {
  // Size first: a megabyte of params is refused without walking it through the schema.
  const serialized = JSON.stringify((message as { params?: unknown }).params);
  const bytes = serialized === undefined ? 0 : Buffer.byteLength(serialized);
  if (bytes > maxParamsBytes) {
    return {
      ok: false,
      code: 'TETHER_ERR_SESSION_INITIALIZE_TOO_LARGE',
      detail: `Invalid params: initialize params are ${bytes} bytes serialized; the limit is ${maxParamsBytes}`,
    };
  }
  const result = specTypeSchemas.InitializeRequest['~standard'].validate(message);
  // The spec schemas validate synchronously; a promise here would be an SDK change.
  if (result instanceof Promise) throw new Error('the SDK initialize schema validated asynchronously');
  const issue = result.issues?.[0];
  if (issue !== undefined) {
    return {
      ok: false,
      code: 'TETHER_ERR_RPC_INVALID_PARAMS',
      detail: `Invalid params: ${describeIssue(issue)}`,
    };
  }
  const { protocolVersion, capabilities, clientInfo } = (message as { params: InitializeRequestParams })
    .params;
  return { ok: true, params: { protocolVersion, capabilities, clientInfo } };
}
