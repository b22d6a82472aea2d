/**
 * Why a stream or session ended. Every close carries exactly one; it appears
 * in the `connection.closed` log line and the final `close` event.
 *
 * - `completed`: a response stream delivered its last response.
 * - `client_disconnect`: the peer closed the socket or was killed.
 * - `ping_timeout`: too many consecutive unanswered liveness pings.
 * - `write_failed`: a write to the socket failed.
 * - `slow_consumer`: the client stopped reading and the send buffer backed up.
 * - `max_age`: the stream reached its maximum age (closed with a `retry` hint).
 * - `idle_timeout`: a session had no request and no open stream for its TTL.
 * - `session_deleted`: the client sent DELETE for the session.
 * - `shutdown`: the server is stopping.
 * - `manual`: closed on purpose by an operator or a handler (e.g. SSE polling).
 * - `error`: an unexpected server error.
 *
 * @example
 * registry.listen({ closed: (conn, reason) => reason === 'slow_consumer' && alert(conn.clientIp) });
 */
export const CLOSE_REASONS = [
  'completed',
  'client_disconnect',
  'ping_timeout',
  'write_failed',
  'slow_consumer',
  'max_age',
  'idle_timeout',
  'session_deleted',
  'shutdown',
  'manual',
  'error',
] as const;

export type CloseReason = (typeof CLOSE_REASONS)[number];
