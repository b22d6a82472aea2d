import type { IncomingMessage, ServerResponse } from 'node:http';
import { type AuthInfo, type JSONRPCMessage, LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import type { CloseReason } from '../connection/close-reason.js';
import { randomId } from '../connection/ids.js';
import type { ConnectionRegistry } from '../connection/registry.js';
import type { SseConnection } from '../connection/sse-connection.js';
import { sendError } from '../errors.js';
import type { PipelineHook } from '../pipeline/pipeline.js';
import type { PipelinedServer } from '../pipeline/server.js';
import { isResponse } from '../protocol/json-rpc.js';
import { type JsonRpcPost, type RequestEdgeOptions, readJsonRpcPost } from './shared/request-edge.js';
import { type StreamBoundTransport, serveOnStream } from './stream-bound-transport.js';

export interface SeedSseDeps {
  registry: ConnectionRegistry;
  logger: Logger;
  maxBodyBytes: number;
  retryMs: number;
  createServer(): Promise<PipelinedServer>;
}

/** The id of the handshake the endpoint performs on the client's behalf; its answer is not sent. */
const HANDSHAKE_ID = 'mcp-tether-seed-handshake';

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * The seed's event names: `response` for results, `error` for errors,
 * `notification` for progress and logging, `request` for server-to-client
 * requests. JSON-RPC members are written in the seed's order.
 */
function seedFrame(message: JSONRPCMessage): string | undefined {
  if (isResponse(message)) {
    if (message.id === HANDSHAKE_ID) return undefined;
    const m = message as { id: string | number; result?: unknown; error?: unknown };
    return 'error' in m
      ? event('error', { jsonrpc: '2.0', error: m.error, id: m.id })
      : event('response', { jsonrpc: '2.0', result: m.result, id: m.id });
  }
  return event('id' in message ? 'request' : 'notification', message);
}

function seedKeepalive(connection: SseConnection): string {
  const now = Date.now();
  return event('ping', {
    event: 'ping',
    data: {
      timestamp: Math.floor(now / 1000),
      ping_count: connection.pingsSent + 1,
      uptime: Math.floor((now - connection.openedAt) / 1000),
    },
  });
}

/**
 * `POST /mcp/sse`, the seed's streaming endpoint: one POST opens a stream
 * that greets with `welcome`, answers the optional JSON-RPC request in its
 * body as `response`/`error`, and stays open for follow-up requests posted
 * to `?connection_id=<id>`. No `initialize` is needed: the endpoint performs
 * the handshake itself. The session lives exactly as long as the stream.
 */
export function createSeedSse(deps: SeedSseDeps) {
  const streams = new Map<string, { transport: StreamBoundTransport; principal: string | undefined }>();

  function finalFrame(reason: CloseReason): string {
    return `event: close\nretry: ${deps.retryMs}\ndata: ${JSON.stringify({ reason })}\n\n`;
  }

  // Parse and shape errors are reported on the stream as `error` events, as the seed did.
  const edge: RequestEdgeOptions = {
    maxBodyBytes: deps.maxBodyBytes,
    logger: deps.logger,
    accept: 'any',
    contentType: 'any',
    shape: 'single',
    invalid: 'return',
  };

  /** Hands the POST's message to the server, or writes its JSON-RPC error event. */
  function deliver(read: JsonRpcPost, transport: StreamBoundTransport, authInfo?: AuthInfo): void {
    if (read.kind === 'messages' && read.messages[0] !== undefined)
      transport.deliver(read.messages[0], authInfo ? { authInfo } : undefined);
    else if (read.kind === 'invalid') transport.connection.write(seedFrame(read.error) ?? '');
  }

  async function open(req: IncomingMessage, res: ServerResponse, authInfo?: AuthInfo): Promise<void> {
    // The opening POST may carry no request: it then only opens the stream.
    const read = await readJsonRpcPost(req, res, { ...edge, allowEmpty: true });
    if (read === undefined) return;
    const id = randomId('mcp_sse_');
    const connection = deps.registry.open(
      req,
      res,
      { transport: 'seed-sse', kind: 'session', sessionId: id, keepalive: seedKeepalive, finalFrame },
      id,
    );
    connection.open({ 'Cache-Control': 'no-cache' });
    connection.write(
      event('welcome', { jsonrpc: '2.0', result: { status: 'connected', connection_id: id }, id: 'welcome' }),
    );

    let answered!: () => void;
    const handshakeAnswered = new Promise<void>((resolve) => {
      answered = resolve;
    });
    const transport = await serveOnStream({
      connection,
      createServer: async () => (await deps.createServer()).use(handshakeHook(answered)),
      frame: seedFrame,
      logger: deps.logger,
      setupFailed: { msg: 'seed_sse.setup_failed', fields: { connection_id: id } },
      opened: (t) => streams.set(id, { transport: t, principal: authInfo?.clientId }),
      ended: () => streams.delete(id),
    });
    if (transport === undefined) return;
    await handshake(transport, handshakeAnswered);
    deliver(read, transport, authInfo);
  }

  async function followUp(
    req: IncomingMessage,
    res: ServerResponse,
    connectionId: string,
    authInfo?: AuthInfo,
  ) {
    const stream = streams.get(connectionId);
    if (stream === undefined || stream.principal !== authInfo?.clientId) {
      sendError(res, 'TETHER_ERR_SESSION_NOT_FOUND', { detail: `Unknown connection_id "${connectionId}"` });
      return;
    }
    const read = await readJsonRpcPost(req, res, edge);
    if (read === undefined) return;
    res.writeHead(202, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'accepted' }));
    deliver(read, stream.transport, authInfo);
  }

  return {
    /** Serves a POST; `query` is the one admission read (a new stream unless it names `connection_id`). */
    async handle(
      req: IncomingMessage,
      res: ServerResponse,
      query: URLSearchParams,
      authInfo?: AuthInfo,
    ): Promise<void> {
      const connectionId = query.get('connection_id');
      if (connectionId === null) await open(req, res, authInfo);
      else await followUp(req, res, connectionId, authInfo);
    },
    get size() {
      return streams.size;
    },
  };
}

/**
 * The handshake hook: resolves `answered` once the server's answer to the
 * endpoint's own `initialize` has passed the whole pipeline (so the meter
 * counts it as answered; the seed framing keeps it off the wire).
 */
function handshakeHook(answered: () => void): PipelineHook {
  return () => ({
    sent(message) {
      if (isResponse(message) && message.id === HANDSHAKE_ID) answered();
    },
  });
}

/** Performs `initialize` + `notifications/initialized` for the client, so bare requests work. */
function handshake(transport: StreamBoundTransport, answered: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    if (transport.connection.closed) {
      resolve();
      return;
    }
    transport.connection.signal.addEventListener('abort', () => resolve(), { once: true });
    void answered.then(resolve);
    transport.deliver({
      jsonrpc: '2.0',
      id: HANDSHAKE_ID,
      method: 'initialize',
      params: {
        protocolVersion: LATEST_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: 'seed-sse', version: '1' },
      },
    } as JSONRPCMessage);
    transport.deliver({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
  });
}
