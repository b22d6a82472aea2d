import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Temp directory of this chaos run: measurements, server logs, tool events. */
    chaosResultsDir: string;
  }
}

/** The run's temp directory (see globalSetup). */
export function resultsDir(): string {
  return inject('chaosResultsDir');
}

/** p50 and max of a sample, rounded to 0.1. */
export interface Stats {
  n: number;
  p50: number;
  max: number;
}

export function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 10) / 10;
  if (sorted.length === 0) return { n: 0, p50: Number.NaN, max: Number.NaN };
  return {
    n: sorted.length,
    p50: round(sorted[Math.floor((sorted.length - 1) / 2)]!),
    max: round(sorted.at(-1)!),
  };
}

/** What one scenario measured; merged into its file so each test can add its part. */
export type Measurements = Record<string, unknown>;

/** Adds `data` under `key` to `<dir>/scenario-<scenario>.json`. */
export function record(scenario: string, key: string, data: unknown): void {
  const file = join(resultsDir(), `scenario-${scenario}.json`);
  let current: Measurements = {};
  try {
    current = JSON.parse(readFileSync(file, 'utf8')) as Measurements;
  } catch {
    // first record of this scenario
  }
  current[key] = data;
  writeFileSync(file, `${JSON.stringify(current, null, 2)}\n`);
}

/** Close reasons seen by one server, for the suite-wide coverage check. */
export function recordReasons(server: string, connection: string[], session: string[]): void {
  writeFileSync(
    join(resultsDir(), `reasons-${server}.json`),
    JSON.stringify({ connection: [...new Set(connection)], session: [...new Set(session)] }),
  );
}

/** Every scenario file and reasons file written so far in this run. */
export function readAll(): { scenarios: Record<string, Measurements>; reasons: Record<string, unknown> } {
  const scenarios: Record<string, Measurements> = {};
  const reasons: Record<string, unknown> = {};
  for (const name of readdirSync(resultsDir()).sort()) {
    const text = () => JSON.parse(readFileSync(join(resultsDir(), name), 'utf8')) as Measurements;
    if (name.startsWith('scenario-')) scenarios[name.slice(9, -5)] = text();
    if (name.startsWith('reasons-')) reasons[name.slice(8, -5)] = text();
  }
  return { scenarios, reasons };
}
