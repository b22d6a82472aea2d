import type { Logger } from 'pino';
import { InvalidOptionError, integer, origin, redisUrl } from './validate.js';

export { InvalidOptionError } from './validate.js';

/** Keepalive interval for idle SSE streams. */
export const DEFAULT_PING_INTERVAL_MS = 15_000;
/** Consecutive failed pings or writes before a stream is closed. */
export const DEFAULT_MAX_PING_FAILURES = 3;
/** A stream older than this is closed with a `retry` hint so the client resumes. */
export const DEFAULT_MAX_CONNECTION_AGE_MS = 60 * 60_000;
/** A 2025-era session with no request and no open stream for this long is freed. */
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;
/**
 * A 2025-era session whose server has had nothing to do for this long lets
 * go of it (hibernates) and rebuilds it on the next request.
 */
export const DEFAULT_HIBERNATE_AFTER_MS = 60_000;
/** Largest accepted request body. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** `retry:` hint (ms) sent on priming events and on every server-initiated close. */
export const DEFAULT_RETRY_MS = 1_000;
/** Events kept per stream for `Last-Event-ID` replay. */
export const DEFAULT_MAX_EVENTS_PER_STREAM = 1_000;
/** How long a drain waits for in-flight requests before closing their streams. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/**
 * Unsent bytes one stream may hold (socket buffer plus frames waiting for
 * it) before it is closed as `slow_consumer`: twice the largest stored event,
 * so a replayed event never trips it on a client that reads.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/**
 * Largest serialized message stored for replay; a larger one is delivered
 * live but not stored. The default body limit, so an echo of any accepted
 * request still fits.
 */
export const DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024;
/** Serialized bytes of stored events one 2025-era session may hold; the oldest are evicted past it. */
export const DEFAULT_MAX_EVENT_BYTES_PER_SESSION = 16 * 1024 * 1024;
/** Open streams the process accepts before answering 503. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** Largest serialized `initialize` params a 2025-era session keeps (for the idle TTL, and in Redis). */
export const DEFAULT_MAX_INITIALIZE_PARAMS_BYTES = 64 * 1024;
/** Messages one POST may carry as a JSON-RPC batch. */
export const DEFAULT_MAX_BATCH_SIZE = 100;
/** Client requests one session (2025-era or HTTP+SSE) may have running at once. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT_PER_SESSION = 100;
/** Client requests the process runs at once, over every transport. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 10_000;
/**
 * Time a connection has to send complete request headers (from its first
 * byte, and for the first request from the connection itself), so idle and
 * slowloris sockets are dropped. Node's own default is 60 s, checked every 30 s.
 */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
/**
 * Time a request has to arrive whole, headers and body. Node stops this clock
 * when the request is received, so long-lived SSE responses are not cut by it.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** An idle keep-alive socket between two requests is closed after this. Node's default. */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;
/**
 * Sockets accepted on top of `maxConnections` (streams) for non-stream
 * requests; `listen()` caps raw sockets at their sum.
 */
export const DEFAULT_SOCKET_MARGIN = 1_000;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8000;

/** Options for {@link createTether}. Every field is optional. */
export interface TetherOptions {
  /** Interface to bind in `listen()`. Default `127.0.0.1`. */
  host?: string;
  /** Port to bind in `listen()`; `0` picks a free one. Default `8000`. */
  port?: number;
  /** Keepalive interval for idle SSE streams, ms. Default {@link DEFAULT_PING_INTERVAL_MS}. */
  pingIntervalMs?: number;
  /** Consecutive failures (unanswered pings, failed writes) before closing. Default {@link DEFAULT_MAX_PING_FAILURES}. */
  maxPingFailures?: number;
  /** Maximum age of one stream, ms; `0` disables. Default {@link DEFAULT_MAX_CONNECTION_AGE_MS}. */
  maxConnectionAgeMs?: number;
  /** Idle TTL of a 2025-era session, ms; `0` disables. Default {@link DEFAULT_IDLE_TIMEOUT_MS}. */
  idleTimeoutMs?: number;
  /**
   * A 2025-era session with no request in flight either way for this long
   * drops its SDK server (keeping its streams, events and id) and rebuilds it
   * from the client's stored `initialize` on the next request, ms; `0`
   * disables. Default {@link DEFAULT_HIBERNATE_AFTER_MS}.
   */
  hibernateAfterMs?: number;
  /**
   * Origins (`scheme://host[:port]`) allowed to call the server from a browser, or `*`.
   * Same-origin requests and, when bound to loopback, loopback origins are always allowed.
   * Default `[]`.
   */
  allowedOrigins?: string[];
  /** Largest accepted request body in bytes (413 above). Default {@link DEFAULT_MAX_BODY_BYTES}. */
  maxBodyBytes?: number;
  /** `retry:` hint in ms on priming events and server-initiated closes. Default {@link DEFAULT_RETRY_MS}. */
  retryMs?: number;
  /** Events kept per stream for resumption. Default {@link DEFAULT_MAX_EVENTS_PER_STREAM}. */
  maxEventsPerStream?: number;
  /**
   * Unsent bytes one stream may hold before it is closed as `slow_consumer`
   * (socket destroyed); `0` = no cap. A single frame larger than this still
   * goes out when nothing else is buffered. Default {@link DEFAULT_MAX_BUFFERED_BYTES}.
   */
  maxBufferedBytes?: number;
  /**
   * Largest serialized message stored for `Last-Event-ID` replay; a larger one
   * is delivered live only (logged as `event.too_large`), and a resumption
   * from before it is refused with `TETHER_ERR_SESSION_EVENTS_EVICTED`.
   * Default {@link DEFAULT_MAX_EVENT_BYTES}.
   */
  maxEventBytes?: number;
  /**
   * Serialized bytes of stored events one 2025-era session may hold in the
   * built-in memory store; past it the session's oldest events are evicted.
   * Default {@link DEFAULT_MAX_EVENT_BYTES_PER_SESSION}.
   */
  maxEventBytesPerSession?: number;
  /** On `close()`, how long in-flight requests may run before their streams are closed. Default {@link DEFAULT_SHUTDOWN_GRACE_MS}. */
  shutdownGraceMs?: number;
  /** Open streams accepted in all; past it, requests that open streams get 503 + `Retry-After`. `0` = no cap. Default {@link DEFAULT_MAX_CONNECTIONS}. */
  maxConnections?: number;
  /**
   * Time a connection has to send complete request headers, ms; the socket is
   * destroyed past it. Applied by `listen()` only (mounted, your server owns it).
   * Default {@link DEFAULT_HEADERS_TIMEOUT_MS}.
   */
  headersTimeoutMs?: number;
  /**
   * Time a request has to arrive whole (headers and body), ms; past it the
   * server answers 408 and closes. Does not bound SSE responses. `0` = none;
   * otherwise at least `headersTimeoutMs`. `listen()` only. Default
   * {@link DEFAULT_REQUEST_TIMEOUT_MS}.
   */
  requestTimeoutMs?: number;
  /** Idle keep-alive socket lifetime between requests, ms. `listen()` only. Default {@link DEFAULT_KEEP_ALIVE_TIMEOUT_MS}. */
  keepAliveTimeoutMs?: number;
  /**
   * Raw sockets `listen()` accepts at once; past it a new socket is closed at
   * once (no response). `0` = no cap. Default `maxConnections` +
   * {@link DEFAULT_SOCKET_MARGIN} (no cap when `maxConnections` is `0`).
   */
  maxSockets?: number;
  /** Open streams accepted per client address; `0` = no cap. Default `0` (behind a proxy every client shares its address). */
  maxConnectionsPerClient?: number;
  /**
   * Largest `initialize` params, serialized, that open a 2025-era session; larger ones get
   * -32602 (`TETHER_ERR_SESSION_INITIALIZE_TOO_LARGE`) and no session. Default
   * {@link DEFAULT_MAX_INITIALIZE_PARAMS_BYTES}.
   */
  maxInitializeParamsBytes?: number;
  /**
   * Messages one POST may batch (`/mcp` 2025-era, legacy `/messages`); a larger batch is refused
   * whole with 400 and -32600. Default {@link DEFAULT_MAX_BATCH_SIZE}.
   */
  maxBatchSize?: number;
  /**
   * Client requests one session may have running; the excess of a POST is answered with
   * `TETHER_ERR_RPC_SESSION_BUSY` and the rest admitted. `0` = no cap. Default
   * {@link DEFAULT_MAX_REQUESTS_IN_FLIGHT_PER_SESSION}.
   */
  maxRequestsInFlightPerSession?: number;
  /**
   * Client requests the process runs at once; the excess is answered with
   * `TETHER_ERR_RPC_SERVER_BUSY`. `0` = no cap. Default {@link DEFAULT_MAX_REQUESTS_IN_FLIGHT}.
   */
  maxRequestsInFlight?: number;
  /** Mount prefix stripped from request paths, e.g. `/tools` when mounted at `/tools/mcp`. Default `''`. */
  basePath?: string;
  /** Server name and version announced to clients. Default `mcp-tether` and the package version. */
  serverInfo?: { name: string; version: string };
  /** Log level when no `logger` is given. Default `info`. */
  logLevel?: string;
  /** `pretty` or `json` log lines when no `logger` is given. Default: pretty on a TTY, else JSON. */
  logFormat?: 'pretty' | 'json';
  /** Bearer tokens accepted on every MCP endpoint; none = no authentication. Default `[]`. */
  authTokens?: string[];
  /** Token for the admin API (`/mcp/connections`); unset = admin API off. */
  adminToken?: string;
  /** New sessions allowed per client address per minute; `0` = unlimited. Default `0`. */
  sessionsPerMinute?: number;
  /** Burst of new sessions a client may open at once under `sessionsPerMinute`. Default `10`. */
  sessionBurst?: number;
  /** A pino logger to use instead of the built-in one. */
  logger?: Logger;
  /**
   * Redis URL (`redis://host:port`): sessions, events and message routing are
   * shared so any number of nodes behave as one server (docs/scaling.md).
   * Unset: one process, everything in memory.
   */
  redisUrl?: string;
}

/** {@link TetherOptions} after defaults and validation; frozen. */
export interface ResolvedTetherOptions {
  readonly host: string;
  readonly port: number;
  readonly pingIntervalMs: number;
  readonly maxPingFailures: number;
  readonly maxConnectionAgeMs: number;
  readonly idleTimeoutMs: number;
  readonly hibernateAfterMs: number;
  readonly allowedOrigins: readonly string[];
  readonly maxBodyBytes: number;
  readonly retryMs: number;
  readonly maxEventsPerStream: number;
  readonly maxBufferedBytes: number;
  readonly maxEventBytes: number;
  readonly maxEventBytesPerSession: number;
  readonly basePath: string;
  readonly maxInitializeParamsBytes: number;
  readonly maxBatchSize: number;
  readonly maxRequestsInFlightPerSession: number;
  readonly maxRequestsInFlight: number;
  readonly shutdownGraceMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxSockets: number;
  readonly serverInfo: Readonly<{ name: string; version: string }>;
  readonly logLevel: string;
  readonly logFormat: 'pretty' | 'json' | undefined;
  readonly authTokens: readonly string[];
  readonly adminToken: string | undefined;
  readonly sessionsPerMinute: number;
  readonly sessionBurst: number;
  readonly redisUrl: string | undefined;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Applies defaults and validates; throws {@link InvalidOptionError} on bad input.
 *
 * @example
 * const resolved = resolveOptions({ pingIntervalMs: 5_000 });
 */
export function resolveOptions(options: TetherOptions, packageVersion: string): ResolvedTetherOptions {
  const logLevel = options.logLevel ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new InvalidOptionError(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const port = integer('port', options.port, DEFAULT_PORT, 0);
  if (port > 65_535) throw new InvalidOptionError(`port must be at most 65535, got ${port}`);
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  if (basePath !== '' && !basePath.startsWith('/')) {
    throw new InvalidOptionError(`basePath must start with "/", got "${options.basePath}"`);
  }
  if (options.logFormat !== undefined && options.logFormat !== 'pretty' && options.logFormat !== 'json') {
    throw new InvalidOptionError(`logFormat must be pretty or json, got "${String(options.logFormat)}"`);
  }
  const authTokens = options.authTokens ?? [];
  for (const token of [...authTokens, ...(options.adminToken === undefined ? [] : [options.adminToken])]) {
    if (!/^[\x21-\x7e]{16,}$/.test(token)) {
      throw new InvalidOptionError('tokens must be at least 16 printable characters without spaces');
    }
  }
  const maxConnections = integer('maxConnections', options.maxConnections, DEFAULT_MAX_CONNECTIONS, 0);
  const headersTimeoutMs = integer(
    'headersTimeoutMs',
    options.headersTimeoutMs,
    DEFAULT_HEADERS_TIMEOUT_MS,
    1,
  );
  const requestTimeoutMs = integer(
    'requestTimeoutMs',
    options.requestTimeoutMs,
    Math.max(DEFAULT_REQUEST_TIMEOUT_MS, headersTimeoutMs),
    0,
  );
  if (requestTimeoutMs !== 0 && requestTimeoutMs < headersTimeoutMs) {
    throw new InvalidOptionError(
      `requestTimeoutMs (${requestTimeoutMs}) must be 0 or at least headersTimeoutMs (${headersTimeoutMs})`,
    );
  }
  return Object.freeze({
    host: options.host ?? DEFAULT_HOST,
    port,
    pingIntervalMs: integer('pingIntervalMs', options.pingIntervalMs, DEFAULT_PING_INTERVAL_MS, 1),
    maxPingFailures: integer('maxPingFailures', options.maxPingFailures, DEFAULT_MAX_PING_FAILURES, 1),
    maxConnectionAgeMs: integer(
      'maxConnectionAgeMs',
      options.maxConnectionAgeMs,
      DEFAULT_MAX_CONNECTION_AGE_MS,
      0,
    ),
    idleTimeoutMs: integer('idleTimeoutMs', options.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS, 0),
    hibernateAfterMs: integer('hibernateAfterMs', options.hibernateAfterMs, DEFAULT_HIBERNATE_AFTER_MS, 0),
    allowedOrigins: Object.freeze((options.allowedOrigins ?? []).map(origin)),
    maxBodyBytes: integer('maxBodyBytes', options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES, 1),
    retryMs: integer('retryMs', options.retryMs, DEFAULT_RETRY_MS, 0),
    maxEventsPerStream: integer(
      'maxEventsPerStream',
      options.maxEventsPerStream,
      DEFAULT_MAX_EVENTS_PER_STREAM,
      1,
    ),
    maxBufferedBytes: integer('maxBufferedBytes', options.maxBufferedBytes, DEFAULT_MAX_BUFFERED_BYTES, 0),
    maxEventBytes: integer('maxEventBytes', options.maxEventBytes, DEFAULT_MAX_EVENT_BYTES, 1),
    maxEventBytesPerSession: integer(
      'maxEventBytesPerSession',
      options.maxEventBytesPerSession,
      DEFAULT_MAX_EVENT_BYTES_PER_SESSION,
      1,
    ),
    basePath,
    maxInitializeParamsBytes: integer(
      'maxInitializeParamsBytes',
      options.maxInitializeParamsBytes,
      DEFAULT_MAX_INITIALIZE_PARAMS_BYTES,
      1,
    ),
    maxBatchSize: integer('maxBatchSize', options.maxBatchSize, DEFAULT_MAX_BATCH_SIZE, 1),
    maxRequestsInFlightPerSession: integer(
      'maxRequestsInFlightPerSession',
      options.maxRequestsInFlightPerSession,
      DEFAULT_MAX_REQUESTS_IN_FLIGHT_PER_SESSION,
      0,
    ),
    maxRequestsInFlight: integer(
      'maxRequestsInFlight',
      options.maxRequestsInFlight,
      DEFAULT_MAX_REQUESTS_IN_FLIGHT,
      0,
    ),
    maxConnections,
    maxConnectionsPerClient: integer('maxConnectionsPerClient', options.maxConnectionsPerClient, 0, 0),
    headersTimeoutMs,
    requestTimeoutMs,
    keepAliveTimeoutMs: integer(
      'keepAliveTimeoutMs',
      options.keepAliveTimeoutMs,
      DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
      1,
    ),
    maxSockets: integer(
      'maxSockets',
      options.maxSockets,
      maxConnections === 0 ? 0 : maxConnections + DEFAULT_SOCKET_MARGIN,
      0,
    ),
    shutdownGraceMs: integer('shutdownGraceMs', options.shutdownGraceMs, DEFAULT_SHUTDOWN_GRACE_MS, 0),
    serverInfo: Object.freeze({ ...(options.serverInfo ?? { name: 'mcp-tether', version: packageVersion }) }),
    logLevel,
    logFormat: options.logFormat,
    authTokens: Object.freeze([...authTokens]),
    adminToken: options.adminToken,
    sessionsPerMinute: integer('sessionsPerMinute', options.sessionsPerMinute, 0, 0),
    sessionBurst: integer('sessionBurst', options.sessionBurst, 10, 1),
    redisUrl: redisUrl(options.redisUrl),
  });
}
