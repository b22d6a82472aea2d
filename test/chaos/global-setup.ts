import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

/**
 * One temp directory per chaos run for measurements, server logs and tool
 * events; the summary (99-summary, run after every scenario) writes
 * `last-run.json` there.
 */
export default function setup(project: TestProject): void {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tether-chaos-'));
  project.provide('chaosResultsDir', dir);
}
