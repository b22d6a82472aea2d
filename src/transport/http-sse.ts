import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo, McpServer } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { randomId } from '../connection/ids.js';
import type { ConnectionRegistry } from '../connection/registry.js';
import { sendError } from '../errors.js';
import { isRequest } from '../protocol/json-rpc.js';
import { messageFrame, pingRequestFrame } from '../protocol/sse-frames.js';
import { type RequestAdmission, repeatedRequestId } from './shared/admission.js';
import { acceptedTypes, accepts } from './shared/media-types.js';
import { readJsonRpcPost } from './shared/request-edge.js';
import { type StreamBoundTransport, serveOnStream } from './stream-bound-transport.js';

export interface HttpSseDeps {
  registry: ConnectionRegistry;
  logger: Logger;
  maxBodyBytes: number;
  /** Batch and in-flight caps for what a POST may start. */
  admission: RequestAdmission;
  createServer(): Promise<McpServer>;
}

interface LegacySession {
  transport: StreamBoundTransport;
  principal: string | undefined;
}

/**
 * HTTP+SSE (protocol 2024-11-05): `GET /sse` opens the stream and
 * announces `POST <prefix>/messages?sessionId=<id>` in an `endpoint` event;
 * replies travel on the stream. The session lives exactly as long as its
 * stream: when the stream closes, for whatever reason, the session and any
 * in-flight tool call end with it.
 */
export function createHttpSse(deps: HttpSseDeps) {
  const sessions = new Map<string, LegacySession>();

  async function openStream(
    req: IncomingMessage,
    res: ServerResponse,
    messagesPath: string,
    authInfo?: AuthInfo,
  ) {
    const types = acceptedTypes(req);
    if (types.size > 0 && !accepts(types, 'text/event-stream')) {
      sendError(res, 'TETHER_ERR_HTTP_SSE_NOT_ACCEPTABLE');
      return;
    }
    const sessionId = randomId();
    // Registered before the server is built, so a client that leaves during
    // setup is noticed by the connection instead of leaving it behind.
    const connection = deps.registry.open(req, res, {
      transport: 'http-sse',
      kind: 'session',
      sessionId,
      // The stream is the server's only way to the client: probe it with JSON-RPC pings.
      pingRequest: pingRequestFrame,
    });
    connection.open();
    const transport = await serveOnStream({
      connection,
      createServer: deps.createServer,
      frame: (message) => messageFrame(message),
      logger: deps.logger,
      setupFailed: { msg: 'http_sse.setup_failed', fields: { session_id: sessionId } },
      opened: (t) => sessions.set(sessionId, { transport: t, principal: authInfo?.clientId }),
      ended: () => sessions.delete(sessionId),
    });
    if (transport === undefined) return;
    // Announced only once the server listens, so the first POST finds it connected.
    connection.write(`event: endpoint\ndata: ${messagesPath}?sessionId=${sessionId}\n\n`);
  }

  async function postMessage(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    authInfo?: AuthInfo,
  ) {
    const sessionId = query.get('sessionId');
    if (sessionId === null) {
      sendError(res, 'TETHER_ERR_SESSION_REQUIRED', {
        detail: 'Bad Request: the sessionId query parameter is required',
      });
      return;
    }
    const session = sessions.get(sessionId);
    if (session === undefined || session.principal !== authInfo?.clientId) {
      sendError(res, 'TETHER_ERR_SESSION_NOT_FOUND');
      return;
    }
    const read = await readJsonRpcPost(req, res, {
      maxBodyBytes: deps.maxBodyBytes,
      logger: deps.logger,
      accept: 'any',
      shape: 'batch',
    });
    if (read?.kind !== 'messages') return;
    const { messages } = read;
    if (deps.admission.refuseBatch(res, messages)) return;
    const duplicate = repeatedRequestId(messages, (id) => session.transport.hasPendingRequest(id));
    if (duplicate !== undefined) {
      sendError(res, 'TETHER_ERR_RPC_DUPLICATE_ID', { id: duplicate });
      return;
    }
    const refusals = deps.admission.admit(messages, session.transport.pendingRequests);
    res.writeHead(202, { 'Content-Type': 'text/plain' }).end('Accepted');
    for (const m of messages) {
      const refusal = isRequest(m) ? refusals.get(m.id) : undefined;
      if (refusal === undefined) session.transport.deliver(m, authInfo ? { authInfo } : undefined);
      else
        session.transport
          .send(refusal)
          .catch((err: unknown) =>
            deps.logger.warn(
              { session_id: sessionId, err: (err as Error).message },
              'request.refusal_failed',
            ),
          );
    }
  }

  return {
    openStream,
    postMessage,
    get size() {
      return sessions.size;
    },
  };
}
