import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';
import { DEFAULT_PING_INTERVAL_MS, InvalidOptionError, resolveOptions } from './options.js';

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
