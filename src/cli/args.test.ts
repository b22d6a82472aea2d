import { describe, expect, it } from 'vitest';
import { parseServeArgs, UsageError } from './args.js';

describe('parseServeArgs', () => {
  it('maps flags to options with durations in ms', () => {
    const parsed = parseServeArgs(
      ['--port', '9000', '--ping-interval', '5s', '--max-connection-age', '1h', '--idle-timeout', '500ms'],
      {},
    );
    expect(parsed).toEqual({
      options: { port: 9000, pingIntervalMs: 5_000, maxConnectionAgeMs: 3_600_000, idleTimeoutMs: 500 },
      toolsModule: undefined,
    });
  });

  it('maps the socket limits', () => {
    const parsed = parseServeArgs(
      ['--headers-timeout', '5s', '--request-timeout', '20s', '--keep-alive-timeout', '2s'],
      { MCP_TETHER_MAX_SOCKETS: '300' },
    );
    expect(parsed).toMatchObject({
      options: {
        headersTimeoutMs: 5_000,
        requestTimeoutMs: 20_000,
        keepAliveTimeoutMs: 2_000,
        maxSockets: 300,
      },
    });
  });

  it('maps the request limits', () => {
    const parsed = parseServeArgs(
      [
        '--max-initialize-params-bytes',
        '1024',
        '--max-batch-size',
        '10',
        '--max-requests-in-flight',
        '50',
        '--max-requests-in-flight-per-session',
        '5',
      ],
      {},
    );
    expect(parsed).toMatchObject({
      options: {
        maxInitializeParamsBytes: 1024,
        maxBatchSize: 10,
        maxRequestsInFlight: 50,
        maxRequestsInFlightPerSession: 5,
      },
    });
  });

  it('falls back to the environment, and flags win over it', () => {
    const parsed = parseServeArgs(['--port', '1'], {
      MCP_TETHER_PORT: '2',
      MCP_TETHER_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
      MCP_TETHER_TOOLS: './t.ts',
    });
    expect(parsed).toEqual({
      options: { port: 1, allowedOrigins: ['https://a.example', 'https://b.example'] },
      toolsModule: './t.ts',
    });
  });

  it('maps the byte limits, from flags or the environment', () => {
    const parsed = parseServeArgs(['--max-buffered-bytes', '1048576', '--max-event-bytes', '65536'], {
      MCP_TETHER_MAX_EVENT_BYTES_PER_SESSION: '2097152',
    });
    expect(parsed).toMatchObject({
      options: { maxBufferedBytes: 1_048_576, maxEventBytes: 65_536, maxEventBytesPerSession: 2_097_152 },
    });
    expect(() => parseServeArgs(['--max-buffered-bytes', '8MiB'], {})).toThrow(/--max-buffered-bytes/);
  });

  it('rejects malformed values with the flag name', () => {
    expect(() => parseServeArgs(['--max-ping-failures', '-1'], {})).toThrow(UsageError);
    expect(() => parseServeArgs(['--ping-interval', 'often'], {})).toThrow(/--ping-interval/);
    expect(() => parseServeArgs(['positional'], {})).toThrow(UsageError);
  });
});
