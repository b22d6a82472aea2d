import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';
import {
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_MAX_EVENT_BYTES_PER_SESSION,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_SOCKET_MARGIN,
  InvalidOptionError,
  resolveOptions,
} from './options.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['15s', 15_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['250', 250],
    ['0', 0],
  ])('%s → %d', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', 'soon', '-5s', '1 parsec'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(RangeError);
  });
});

describe('resolveOptions', () => {
  it('fills defaults and freezes the result', () => {
    const r = resolveOptions({}, '1.2.3');
    expect(r.pingIntervalMs).toBe(DEFAULT_PING_INTERVAL_MS);
    expect(r.serverInfo).toEqual({ name: 'mcp-tether', version: '1.2.3' });
    expect(Object.isFrozen(r)).toBe(true);
  });

  it('bounds buffers and stored events by default, a stored event below the stream cap', () => {
    const r = resolveOptions({}, '0');
    expect(r.maxBufferedBytes).toBe(DEFAULT_MAX_BUFFERED_BYTES);
    expect(r.maxEventBytes).toBe(DEFAULT_MAX_EVENT_BYTES);
    expect(r.maxEventBytesPerSession).toBe(DEFAULT_MAX_EVENT_BYTES_PER_SESSION);
    expect(r.maxEventBytes).toBeLessThan(r.maxBufferedBytes);
    expect(resolveOptions({ maxBufferedBytes: 0 }, '0').maxBufferedBytes).toBe(0);
    expect(() => resolveOptions({ maxEventBytes: 0 }, '0')).toThrow(InvalidOptionError);
    expect(() => resolveOptions({ maxEventBytesPerSession: 1.5 }, '0')).toThrow(/maxEventBytesPerSession/);
  });

  it('normalises origins and rejects what is not one', () => {
    expect(resolveOptions({ allowedOrigins: ['https://app.example.com/path'] }, '0').allowedOrigins).toEqual([
      'https://app.example.com',
    ]);
    expect(() => resolveOptions({ allowedOrigins: ['app'] }, '0')).toThrow(InvalidOptionError);
  });

  it.each([
    [{ pingIntervalMs: 0 }, 'pingIntervalMs'],
    [{ maxPingFailures: 1.5 }, 'maxPingFailures'],
    [{ port: -1 }, 'port'],
    [{ basePath: 'tools' }, 'basePath'],
  ])('rejects %j', (options, name) => {
    expect(() => resolveOptions(options, '0')).toThrow(new RegExp(name));
  });
});

describe('socket limits', () => {
  it('caps sockets at maxConnections plus a margin, none when streams are uncapped', () => {
    expect(resolveOptions({ maxConnections: 500 }, '0').maxSockets).toBe(500 + DEFAULT_SOCKET_MARGIN);
    expect(resolveOptions({ maxConnections: 0 }, '0').maxSockets).toBe(0);
    expect(resolveOptions({ maxConnections: 0, maxSockets: 50 }, '0').maxSockets).toBe(50);
  });

  it('refuses a request timeout shorter than the headers timeout (node:http would throw at listen)', () => {
    expect(() => resolveOptions({ headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 }, '0')).toThrow(
      InvalidOptionError,
    );
    expect(resolveOptions({ headersTimeoutMs: 40_000 }, '0').requestTimeoutMs).toBe(40_000);
    expect(resolveOptions({ headersTimeoutMs: 5_000, requestTimeoutMs: 0 }, '0').requestTimeoutMs).toBe(0);
  });
});
