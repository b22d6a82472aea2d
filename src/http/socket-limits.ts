import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

/** The socket-level limits `listen()` applies to its own node:http server. */
export interface SocketLimits {
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** `0` = no cap. */
  readonly maxSockets: number;
}

/** How often Node checks `headersTimeout` / `requestTimeout`; its own default is 30 s. */
export function connectionsCheckingIntervalMs(limits: SocketLimits): number {
  return Math.max(100, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 2)));
}

/** A dropped socket is logged at most this often, so a flood cannot flood the log. */
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * Bounds what a socket that sends nothing useful can hold: complete headers
 * within `headersTimeoutMs` (Node's `headersTimeout` runs from a request's
 * first byte, so a socket that never sends one is timed here from its
 * connection until its first request), the whole request within
 * `requestTimeoutMs`, idle keep-alive for `keepAliveTimeoutMs`, and at most
 * `maxSockets` sockets (Node's `maxConnections`: the excess is closed at once).
 * The server must have been created with
 * {@link connectionsCheckingIntervalMs} as its `connectionsCheckingInterval`.
 */
export function applySocketLimits(server: Server, limits: SocketLimits, logger: Logger): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  if (limits.maxSockets > 0) server.maxConnections = limits.maxSockets;

  const firstRequest = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    timer.unref();
    firstRequest.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (req) => {
    const timer = firstRequest.get(req.socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    firstRequest.delete(req.socket);
  });

  let dropped = 0;
  let loggedAt = 0;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    dropped++;
    const now = Date.now();
    if (now - loggedAt < DROP_LOG_INTERVAL_MS) return;
    loggedAt = now;
    logger.warn(
      { maxSockets: limits.maxSockets, droppedSinceLast: dropped, remoteAddress: data?.remoteAddress },
      'server.socket_cap_reached',
    );
    dropped = 0;
  });
}
