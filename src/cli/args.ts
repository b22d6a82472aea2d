import { parseArgs } from 'node:util';
import { parseDuration } from '../config/duration.js';
import type { TetherOptions } from '../config/options.js';

/** A command-line or environment error: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Kind = 'string' | 'integer' | 'duration' | 'list';

/** Every `serve` flag: its option, how to parse it, and its environment variable. */
const FLAGS = {
  host: { kind: 'string', env: 'MCP_TETHER_HOST' },
  port: { kind: 'integer', env: 'MCP_TETHER_PORT' },
  tools: { kind: 'string', env: 'MCP_TETHER_TOOLS' },
  'ping-interval': { kind: 'duration', env: 'MCP_TETHER_PING_INTERVAL' },
  'max-ping-failures': { kind: 'integer', env: 'MCP_TETHER_MAX_PING_FAILURES' },
  'max-connection-age': { kind: 'duration', env: 'MCP_TETHER_MAX_CONNECTION_AGE' },
  'idle-timeout': { kind: 'duration', env: 'MCP_TETHER_IDLE_TIMEOUT' },
  'hibernate-after': { kind: 'duration', env: 'MCP_TETHER_HIBERNATE_AFTER' },
  'allowed-origins': { kind: 'list', env: 'MCP_TETHER_ALLOWED_ORIGINS' },
  'max-connections': { kind: 'integer', env: 'MCP_TETHER_MAX_CONNECTIONS' },
  'max-connections-per-client': { kind: 'integer', env: 'MCP_TETHER_MAX_CONNECTIONS_PER_CLIENT' },
  'max-initialize-params-bytes': { kind: 'integer', env: 'MCP_TETHER_MAX_INITIALIZE_PARAMS_BYTES' },
  'max-batch-size': { kind: 'integer', env: 'MCP_TETHER_MAX_BATCH_SIZE' },
  'max-requests-in-flight': { kind: 'integer', env: 'MCP_TETHER_MAX_REQUESTS_IN_FLIGHT' },
  'max-requests-in-flight-per-session': {
    kind: 'integer',
    env: 'MCP_TETHER_MAX_REQUESTS_IN_FLIGHT_PER_SESSION',
  },
  'max-buffered-bytes': { kind: 'integer', env: 'MCP_TETHER_MAX_BUFFERED_BYTES' },
  'max-event-bytes': { kind: 'integer', env: 'MCP_TETHER_MAX_EVENT_BYTES' },
  'max-event-bytes-per-session': { kind: 'integer', env: 'MCP_TETHER_MAX_EVENT_BYTES_PER_SESSION' },
  'shutdown-grace': { kind: 'duration', env: 'MCP_TETHER_SHUTDOWN_GRACE' },
  'headers-timeout': { kind: 'duration', env: 'MCP_TETHER_HEADERS_TIMEOUT' },
  'request-timeout': { kind: 'duration', env: 'MCP_TETHER_REQUEST_TIMEOUT' },
  'keep-alive-timeout': { kind: 'duration', env: 'MCP_TETHER_KEEP_ALIVE_TIMEOUT' },
  'max-sockets': { kind: 'integer', env: 'MCP_TETHER_MAX_SOCKETS' },
  'log-level': { kind: 'string', env: 'MCP_TETHER_LOG_LEVEL' },
  'log-format': { kind: 'string', env: 'MCP_TETHER_LOG_FORMAT' },
  'auth-token': { kind: 'list', env: 'MCP_TETHER_AUTH_TOKENS' },
  'auth-token-file': { kind: 'string', env: 'MCP_TETHER_AUTH_TOKEN_FILE' },
  'admin-token': { kind: 'string', env: 'MCP_TETHER_ADMIN_TOKEN' },
  'sessions-per-minute': { kind: 'integer', env: 'MCP_TETHER_SESSIONS_PER_MINUTE' },
  redis: { kind: 'string', env: 'MCP_TETHER_REDIS_URL' },
} as const satisfies Record<string, { kind: Kind; env: string }>;

type Flag = keyof typeof FLAGS;

export const USAGE = `Usage: mcp-tether serve [options]

Options (environment variable in brackets):
  --host <addr>                 interface to bind (default 127.0.0.1) [MCP_TETHER_HOST]
  --port <n>                    port, 0 for any free one (default 8000) [MCP_TETHER_PORT]
  --tools <module>              .ts/.js/.mjs module whose default export registers tools on the
                                SDK's McpServer (default: demo tools) [MCP_TETHER_TOOLS]
  --ping-interval <dur>         keepalive interval for idle streams (default 15s) [MCP_TETHER_PING_INTERVAL]
  --max-ping-failures <n>       consecutive failures before a stream closes (default 3) [MCP_TETHER_MAX_PING_FAILURES]
  --max-connection-age <dur>    max age of one stream, 0 = none (default 1h) [MCP_TETHER_MAX_CONNECTION_AGE]
  --idle-timeout <dur>          idle TTL of a 2025-era session, 0 = none (default 30m) [MCP_TETHER_IDLE_TIMEOUT]
  --hibernate-after <dur>       a 2025-era session with nothing in flight drops its server after this
                                and rebuilds it on the next request, 0 = never (default 60s) [MCP_TETHER_HIBERNATE_AFTER]
  --allowed-origins <list>      comma-separated origins allowed from browsers, or * [MCP_TETHER_ALLOWED_ORIGINS]
  --max-connections <n>         open streams in all before 503, 0 = no cap (default 10000) [MCP_TETHER_MAX_CONNECTIONS]
  --max-connections-per-client <n>  open streams per client address, 0 = no cap (default 0) [MCP_TETHER_MAX_CONNECTIONS_PER_CLIENT]
  --max-initialize-params-bytes <n>  largest serialized initialize params a session keeps; larger
                                get -32602 and no session (default 65536) [MCP_TETHER_MAX_INITIALIZE_PARAMS_BYTES]
  --max-batch-size <n>          messages one POST may batch; more is refused whole with 400 (default 100) [MCP_TETHER_MAX_BATCH_SIZE]
  --max-requests-in-flight <n>  requests running at once in all, 0 = no cap (default 10000) [MCP_TETHER_MAX_REQUESTS_IN_FLIGHT]
  --max-requests-in-flight-per-session <n>  requests running at once in one session, 0 = no cap
                                (default 100) [MCP_TETHER_MAX_REQUESTS_IN_FLIGHT_PER_SESSION]
  --shutdown-grace <dur>        on SIGTERM/SIGINT/SIGHUP, time in-flight calls may finish (default 10s) [MCP_TETHER_SHUTDOWN_GRACE]
  --headers-timeout <dur>       time a connection has to send complete request headers before its
                                socket is destroyed (default 10s) [MCP_TETHER_HEADERS_TIMEOUT]
  --request-timeout <dur>       time a request has to arrive whole, body included; 408 past it;
                                SSE responses are not bounded by it, 0 = none (default 30s) [MCP_TETHER_REQUEST_TIMEOUT]
  --keep-alive-timeout <dur>    idle keep-alive socket lifetime between requests (default 5s) [MCP_TETHER_KEEP_ALIVE_TIMEOUT]
  --max-sockets <n>             raw sockets accepted at once; more are closed at once, 0 = no cap
                                (default --max-connections + 1000) [MCP_TETHER_MAX_SOCKETS]
  --max-buffered-bytes <n>      unsent bytes one stream may hold before it closes as slow_consumer,
                                0 = no cap (default 8388608) [MCP_TETHER_MAX_BUFFERED_BYTES]
  --max-event-bytes <n>         largest message stored for Last-Event-ID replay; larger ones go out
                                live only (default 4194304) [MCP_TETHER_MAX_EVENT_BYTES]
  --max-event-bytes-per-session <n>  stored event bytes per session before the oldest are evicted
                                (default 16777216) [MCP_TETHER_MAX_EVENT_BYTES_PER_SESSION]
  --log-level <level>           fatal|error|warn|info|debug|trace|silent (default info) [MCP_TETHER_LOG_LEVEL]
  --log-format <fmt>            pretty|json (default: pretty on a terminal) [MCP_TETHER_LOG_FORMAT]
  --auth-token <token>          accepted bearer token; repeat for several [MCP_TETHER_AUTH_TOKENS, comma-separated]
  --auth-token-file <path>      file with one accepted token per line (# comments) [MCP_TETHER_AUTH_TOKEN_FILE]
  --admin-token <token>         token for the admin API /mcp/connections (off without) [MCP_TETHER_ADMIN_TOKEN]
  --sessions-per-minute <n>     new sessions per client address per minute, 0 = unlimited [MCP_TETHER_SESSIONS_PER_MINUTE]
  --redis <url>                 Redis for sessions, events and routing across nodes, e.g.
                                redis://127.0.0.1:6379 (default: none, one process) [MCP_TETHER_REDIS_URL]
  -h, --help                    show this help

Durations: 500ms, 15s, 2m, 1h (a bare number is milliseconds).`;

/** What `serve` was asked to do. */
export interface ServeCommand {
  options: TetherOptions;
  toolsModule: string | undefined;
  /** A file of accepted tokens, read by the caller. */
  authTokenFile: string | undefined;
}

function convert(flag: Flag, raw: string): string | number | string[] {
  const kind: Kind = FLAGS[flag].kind;
  switch (kind) {
    case 'integer': {
      if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--${flag}: expected a whole number, got "${raw}"`);
      return Number(raw);
    }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch (err) {
        throw new UsageError(`--${flag}: ${(err as Error).message}`);
      }
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    default:
      if (raw.trim() === '') throw new UsageError(`--${flag}: must not be empty`);
      return raw;
  }
}

/**
 * Parses `serve`'s flags, falling back to `MCP_TETHER_*` variables; flags win.
 * Returns `'help'` for `--help`. Throws {@link UsageError} on bad input.
 *
 * @example
 * parseServeArgs(['--port', '9000', '--ping-interval', '5s'], {});
 */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv): ServeCommand | 'help' {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(FLAGS).map((name) => [name, { type: 'string' as const }]));
    ({ values } = parseArgs({
      args: argv,
      options: {
        ...options,
        'auth-token': { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
  if (values.help) return 'help';
  const get = (flag: Flag) => {
    const given = values[flag] as string | string[] | undefined;
    const raw = Array.isArray(given) ? given.join(',') : (given ?? env[FLAGS[flag].env]);
    return raw === undefined ? undefined : convert(flag, raw);
  };
  const options: TetherOptions = {};
  const set = <K extends keyof TetherOptions>(key: K, value: unknown) => {
    if (value !== undefined) options[key] = value as TetherOptions[K];
  };
  set('host', get('host'));
  set('port', get('port'));
  set('pingIntervalMs', get('ping-interval'));
  set('maxPingFailures', get('max-ping-failures'));
  set('maxConnectionAgeMs', get('max-connection-age'));
  set('idleTimeoutMs', get('idle-timeout'));
  set('hibernateAfterMs', get('hibernate-after'));
  set('allowedOrigins', get('allowed-origins'));
  set('shutdownGraceMs', get('shutdown-grace'));
  set('maxConnections', get('max-connections'));
  set('maxConnectionsPerClient', get('max-connections-per-client'));
  set('headersTimeoutMs', get('headers-timeout'));
  set('requestTimeoutMs', get('request-timeout'));
  set('keepAliveTimeoutMs', get('keep-alive-timeout'));
  set('maxSockets', get('max-sockets'));
  set('maxInitializeParamsBytes', get('max-initialize-params-bytes'));
  set('maxBatchSize', get('max-batch-size'));
  set('maxRequestsInFlight', get('max-requests-in-flight'));
  set('maxRequestsInFlightPerSession', get('max-requests-in-flight-per-session'));
  set('maxBufferedBytes', get('max-buffered-bytes'));
  set('maxEventBytes', get('max-event-bytes'));
  set('maxEventBytesPerSession', get('max-event-bytes-per-session'));
  set('logLevel', get('log-level'));
  set('logFormat', get('log-format'));
  set('authTokens', get('auth-token'));
  set('adminToken', get('admin-token'));
  set('sessionsPerMinute', get('sessions-per-minute'));
  set('redisUrl', get('redis'));
  return {
    options,
    toolsModule: get('tools') as string | undefined,
    authTokenFile: get('auth-token-file') as string | undefined,
  };
}
