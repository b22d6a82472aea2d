import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectionRegistry } from '../connection/registry.js';
import type { SseConnection } from '../connection/sse-connection.js';
import { sendError } from '../errors.js';
import { bearerOf, TokenAuth } from './auth.js';

/** One live connection as the admin API lists it. */
export interface ConnectionView {
  id: string;
  transport: string;
  stream: string;
  session_id: string | null;
  client_ip: string;
  user_agent: string;
  opened_at: string;
  uptime_ms: number;
  last_activity_at: string;
  pings_sent: number;
  consecutive_failures: number;
  bytes_written: number;
  buffered_bytes: number;
}

function view(c: SseConnection, now: number): ConnectionView {
  return {
    id: c.id,
    transport: c.transport,
    stream: c.kind,
    session_id: c.sessionId ?? null,
    client_ip: c.clientIp,
    user_agent: c.userAgent,
    opened_at: new Date(c.openedAt).toISOString(),
    uptime_ms: now - c.openedAt,
    last_activity_at: new Date(c.lastWriteAt).toISOString(),
    pings_sent: c.pingsSent,
    consecutive_failures: c.consecutiveFailures,
    bytes_written: c.bytesWritten,
    buffered_bytes: c.bufferedBytes,
  };
}

/** The connection id of a path segment, or undefined when its percent-encoding is malformed. */
function decodedId(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * `GET /mcp/connections` and `DELETE /mcp/connections/:id`. Refused with 403
 * when no admin token is configured, 401 without the admin token.
 */
export function createAdminApi(registry: ConnectionRegistry, adminToken: string | undefined) {
  const auth = new TokenAuth(adminToken === undefined ? [] : [adminToken]);

  return function handleAdmin(req: IncomingMessage, res: ServerResponse, subPath: string): void {
    if (!auth.enabled) {
      sendError(res, 'TETHER_ERR_ADMIN_DISABLED');
      return;
    }
    const token = bearerOf(req);
    if (token === undefined || !auth.matches(token)) {
      sendError(res, 'TETHER_ERR_ADMIN_UNAUTHORIZED', {
        headers: { 'WWW-Authenticate': 'Bearer realm="mcp-tether-admin"' },
      });
      return;
    }
    if (subPath === '') {
      if (req.method !== 'GET') {
        sendError(res, 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED', { headers: { Allow: 'GET' } });
        return;
      }
      const now = Date.now();
      const body = JSON.stringify({ connections: [...registry.values()].map((c) => view(c, now)) });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
      return;
    }
    if (req.method !== 'DELETE') {
      sendError(res, 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED', { headers: { Allow: 'DELETE' } });
      return;
    }
    const id = decodedId(subPath.slice(1));
    if (id === undefined) {
      sendError(res, 'TETHER_ERR_ADMIN_BAD_CONNECTION_ID');
      return;
    }
    const connection = registry.get(id);
    if (connection === undefined) {
      sendError(res, 'TETHER_ERR_ADMIN_CONNECTION_NOT_FOUND', { detail: `No live connection "${id}"` });
      return;
    }
    connection.close('manual');
    res
      .writeHead(200, { 'Content-Type': 'application/json' })
      .end(JSON.stringify({ closed: id, reason: 'manual' }));
  };
}
