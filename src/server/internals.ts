import type { StreamableHttpSessions } from '../transport/streamable-http/sessions.js';
import type { Tether } from './types.js';

/** What an instance keeps to itself; reached by tests and benchmarks, not by the public API. */
export interface TetherInternals {
  readonly sessions: StreamableHttpSessions;
}

const INTERNALS = new WeakMap<Tether, TetherInternals>();

export function registerInternals(tether: Tether, internals: TetherInternals): void {
  INTERNALS.set(tether, internals);
}

/**
 * The internals of an instance built by `createTether` (not exported from the
 * package: its shape may change with any release).
 *
 * @example
 * internalsOf(tether).sessions.sweep(Date.now());
 */
export function internalsOf(tether: Tether): TetherInternals {
  const internals = INTERNALS.get(tether);
  if (internals === undefined) throw new TypeError('not an instance built by createTether');
  return internals;
}
