import type { IncomingMessage } from 'node:http';

/**
 * The client address as seen on the socket: the key of per-client caps and
 * rate limits, and the `client_ip` of log lines.
 *
 * @example
 * clientIpOf(req); // '127.0.0.1'
 */
export function clientIpOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}
