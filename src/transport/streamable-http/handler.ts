import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AuthInfo,
  classifyInboundRequest,
  type JSONRPCMessage,
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { sendError } from '../../errors.js';
import { idOf, isResponse } from '../../protocol/json-rpc.js';
import { type RequestAdmission, repeatedRequestId } from '../shared/admission.js';
import { acceptedTypes, accepts } from '../shared/media-types.js';
import { readJsonRpcPost } from '../shared/request-edge.js';
import { checkInitialize } from './initialize-params.js';
import type { ModernEndpoint } from './modern.js';
import { SessionEndedError } from './session-servers.js';
import type { LiveSession, StreamableHttpSessions } from './sessions.js';

export interface StreamableHttpDeps {
  sessions: StreamableHttpSessions;
  modern: ModernEndpoint;
  logger: Logger;
  maxBodyBytes: number;
  /** Batch and in-flight caps for what a POST may start. */
  admission: RequestAdmission;
  /** Largest serialized `initialize` params that open a session. */
  maxInitializeParamsBytes: number;
  /** Admission for a new session (rate limit); answers the refusal itself and returns false. */
  admitSession(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Admission for a request that opens a new stream (the connection caps): a new
   * session, any 2026-07-28 request. Decided here, from the parsed body, since a
   * header alone (a stray `Mcp-Session-Id`) says nothing of the era.
   */
  admitStream(req: IncomingMessage, res: ServerResponse): boolean;
  /** Cluster mode: false while the shared store (Redis) is unreachable; new sessions then get 503. */
  clusterHealthy?: () => boolean;
}

function refuseUnavailable(res: ServerResponse): void {
  sendError(res, 'TETHER_ERR_HTTP_UNAVAILABLE', {
    detail: 'Service unavailable: the shared session store (Redis) is unreachable; retry shortly',
    headers: { 'Retry-After': '1' },
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function needsServer(message: JSONRPCMessage): boolean {
  if (isResponse(message)) return false;
  return !('method' in message) || message.method !== 'notifications/initialized';
}

/** The era of a POST, decided by the SDK's classifier so it matches the SDK's. */
function classify(req: IncomingMessage, body: unknown) {
  return classifyInboundRequest({
    httpMethod: 'POST',
    protocolVersionHeader: header(req, 'mcp-protocol-version'),
    mcpMethodHeader: header(req, 'mcp-method'),
    mcpNameHeader: header(req, 'mcp-name'),
    body,
  });
}

/** The version a session will speak: the client's if supported, else the latest. */
function negotiate(requested: unknown): string {
  return typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested)
    ? requested
    : LATEST_PROTOCOL_VERSION;
}

/**
 * `/mcp`: one endpoint, both protocol eras. Each POST is classified as the
 * spec says (the SDK's classifier, so the era decision matches the SDK's):
 * 2026-07-28 requests go to the stateless {@link ModernEndpoint}, 2025-era
 * traffic to its session; GET opens or resumes a session stream, DELETE
 * ends a session.
 */
export function createStreamableHttpHandler(deps: StreamableHttpDeps) {
  const { sessions, modern } = deps;

  async function sessionFor(
    req: IncomingMessage,
    res: ServerResponse,
    principal?: string,
  ): Promise<LiveSession | undefined> {
    const id = header(req, 'mcp-session-id');
    if (id === undefined) {
      sendError(res, 'TETHER_ERR_SESSION_REQUIRED');
      return undefined;
    }
    let session = sessions.get(id);
    if (session === undefined && sessions.clustered) {
      // Cluster mode: a session another node created is rebuilt here from Redis.
      try {
        session = await sessions.rehydrate(id);
      } catch (err) {
        deps.logger.warn({ session_id: id, err: (err as Error).message }, 'session.rehydrate_failed');
        refuseUnavailable(res);
        return undefined;
      }
    }
    if (session === undefined || session.principal !== principal) {
      sendError(res, 'TETHER_ERR_SESSION_NOT_FOUND');
      return undefined;
    }
    const version = header(req, 'mcp-protocol-version');
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      sendError(res, 'TETHER_ERR_SESSION_PROTOCOL_VERSION', {
        detail: `Bad Request: unsupported MCP-Protocol-Version "${version}" (supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`,
      });
      return undefined;
    }
    sessions.touch(session);
    return session;
  }

  async function post(req: IncomingMessage, res: ServerResponse, authInfo?: AuthInfo): Promise<void> {
    const read = await readJsonRpcPost(req, res, {
      maxBodyBytes: deps.maxBodyBytes,
      logger: deps.logger,
      accept: 'json+sse',
      shape: 'batch',
      handOff: (parsed) => classify(req, parsed).kind !== 'legacy',
    });
    if (read?.kind === 'handed-off') {
      if (!deps.admitStream(req, res)) return;
      await modern.serve(req, res, read.parsed, authInfo);
      return;
    }
    if (read?.kind !== 'messages') return;
    const { messages } = read;
    if (deps.admission.refuseBatch(res, messages)) return;
    const principal = authInfo?.clientId;
    const init = messages.find((m) => 'method' in m && m.method === 'initialize');
    if (init !== undefined) {
      if (messages.length > 1 || header(req, 'mcp-session-id') !== undefined) {
        sendError(res, 'TETHER_ERR_RPC_INVALID_REQUEST', {
          detail: 'Invalid Request: initialize must be sent alone and without Mcp-Session-Id',
          id: idOf(init),
        });
        return;
      }
      // Checked before any session exists: a refused initialize leaves nothing behind.
      const check = checkInitialize(init, deps.maxInitializeParamsBytes);
      if (!check.ok) {
        sendError(res, check.code, { detail: check.detail, id: idOf(init) });
        return;
      }
      if (!deps.admitStream(req, res) || !deps.admitSession(req, res)) return;
      if (deps.clusterHealthy && !deps.clusterHealthy()) {
        refuseUnavailable(res);
        return;
      }
      let session: LiveSession;
      try {
        session = await sessions.create(negotiate(check.params.protocolVersion), principal, check.params);
      } catch (err) {
        if (!sessions.clustered) throw err;
        deps.logger.warn({ err: (err as Error).message }, 'session.create_failed');
        refuseUnavailable(res);
        return;
      }
      session.transport.handlePost(req, res, messages, authInfo);
      return;
    }
    const session = await sessionFor(req, res, principal);
    if (!session) return;
    const duplicate = repeatedRequestId(messages, (id) => session.transport.hasPendingRequest(id));
    if (duplicate !== undefined) {
      sendError(res, 'TETHER_ERR_RPC_DUPLICATE_ID', { id: duplicate });
      return;
    }
    // A session without a server (hibernating, or new) builds it for a request or notification;
    // not for `notifications/initialized`, which the rebuild replays, nor for replies to liveness pings.
    if (messages.some(needsServer)) {
      try {
        await sessions.wake(session);
      } catch (err) {
        if (err instanceof SessionEndedError) {
          sendError(res, 'TETHER_ERR_SESSION_NOT_FOUND');
          return;
        }
        deps.logger.error({ session_id: session.id, err }, 'session.wake_failed');
        throw err;
      }
    }
    const refusals = deps.admission.admit(messages, session.transport.pendingRequests);
    session.transport.handlePost(req, res, messages, authInfo, refusals);
  }

  async function get(req: IncomingMessage, res: ServerResponse, authInfo?: AuthInfo): Promise<void> {
    if (!accepts(acceptedTypes(req), 'text/event-stream')) {
      sendError(res, 'TETHER_ERR_HTTP_SSE_NOT_ACCEPTABLE');
      return;
    }
    const session = await sessionFor(req, res, authInfo?.clientId);
    if (!session) return;
    const lastEventId = header(req, 'last-event-id');
    const refused = await session.transport.handleGet(req, res, lastEventId);
    if (refused === undefined) return;
    deps.logger.info(
      { session_id: session.id, last_event_id: lastEventId ?? null, code: refused.code },
      'stream.refused',
    );
    sendError(res, refused.code, {
      ...(refused.detail ? { detail: refused.detail } : {}),
      ...(refused.code === 'TETHER_ERR_SESSION_STREAM_ENDED' ? { headers: { Allow: 'POST, DELETE' } } : {}),
    });
  }

  async function del(req: IncomingMessage, res: ServerResponse, authInfo?: AuthInfo): Promise<void> {
    const session = await sessionFor(req, res, authInfo?.clientId);
    if (!session) return;
    await sessions.close(session, 'session_deleted');
    res.writeHead(200).end();
  }

  return async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    authInfo?: AuthInfo,
  ): Promise<void> {
    switch (req.method) {
      case 'POST':
        return post(req, res, authInfo);
      case 'GET':
        return get(req, res, authInfo);
      case 'DELETE':
        return del(req, res, authInfo);
      default:
        sendError(res, 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED', { headers: { Allow: 'GET, POST, DELETE' } });
    }
  };
}
