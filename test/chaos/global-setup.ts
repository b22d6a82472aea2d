import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

/**
 * One temp directory per chaos run for measurements, server logs and tool
 * events; the summary (99-summary, in the group after the scenarios) writes
 * `last-run.json` there. Each project loads this file on its own, so the
 * directory is kept in the main process's environment for the other project.
 */
export default function setup(project: TestProject): void {
  process.env.CHAOS_RESULTS_DIR ??= mkdtempSync(join(tmpdir(), 'mcp-tether-chaos-'));
  project.provide('chaosResultsDir', process.env.CHAOS_RESULTS_DIR);
}
