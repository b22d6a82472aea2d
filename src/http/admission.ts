import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ConnectionRegistry } from '../connection/registry.js';
import { sendError } from '../errors.js';
import { clientIpOf } from '../protocol/client-ip.js';
import { RateLimiter } from './rate-limit.js';

export interface AdmissionOptions {
  /** `0` for no cap. */
  maxConnections: number;
  /** `0` for no cap. */
  maxConnectionsPerClient: number;
  sessionsPerMinute: number;
  sessionBurst: number;
  retryMs: number;
}

/**
 * Who may open what: the connection caps (every new stream) and the
 * session-creation rate limit (per client address). Each refusal is answered
 * here, with `Retry-After`, and logged.
 *
 * @example
 * const admission = new Admission(registry, logger, resolved);
 * if (!admission.admitStream(req, res)) return; // answered 503
 */
export class Admission {
  private readonly sessions: RateLimiter;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly logger: Logger,
    private readonly options: AdmissionOptions,
  ) {
    this.sessions = new RateLimiter(options.sessionsPerMinute, options.sessionBurst);
  }

  /** Whether the server holds as many connections as it may (readiness goes off). */
  get atCapacity(): boolean {
    return this.options.maxConnections > 0 && this.registry.size >= this.options.maxConnections;
  }

  /** Admits a request that opens a new stream, or answers 503 and returns false. */
  admitStream(req: IncomingMessage, res: ServerResponse): boolean {
    const clientIp = clientIpOf(req);
    const perClient = this.options.maxConnectionsPerClient;
    const code = this.atCapacity
      ? 'TETHER_ERR_HTTP_AT_CAPACITY'
      : perClient > 0 && this.registry.countByClient(clientIp) >= perClient
        ? 'TETHER_ERR_HTTP_CLIENT_AT_CAPACITY'
        : undefined;
    if (code === undefined) return true;
    this.logger.warn({ client_ip: clientIp, connections: this.registry.size, code }, 'connection.refused');
    sendError(res, code, {
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(this.options.retryMs / 1000))) },
    });
    return false;
  }

  /** Admits a request that creates a session (rate limit), or answers 429 and returns false. */
  admitSession(req: IncomingMessage, res: ServerResponse): boolean {
    const clientIp = clientIpOf(req);
    const wait = this.sessions.take(clientIp);
    if (wait === 0) return true;
    this.logger.warn({ client_ip: clientIp, retry_after_s: wait }, 'session.rate_limited');
    sendError(res, 'TETHER_ERR_HTTP_RATE_LIMITED', { headers: { 'Retry-After': String(wait) } });
    return false;
  }

  /** Forgets rate-limit buckets that have refilled (called on the scheduler's tick). */
  prune(now: number): void {
    this.sessions.prune(now);
  }
}
