import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, poll, signalPid, spawnNode } from './process.js';

/** Whether `pid` still runs (a zombie waiting for its reaper counts as gone). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

afterAll(killAll);

describe('the watchdog', () => {
  it('ends the children of a runner killed without running its hooks, node or not', async () => {
    const runner = spawnNode(['test/support/fixtures/runner.ts'], { tsx: true });
    const pids = JSON.parse(await runner.line(/^\{/, 10_000, 'the PIDs')) as {
      node: number;
      program: number;
    };
    expect(running(pids.node) && running(pids.program)).toBe(true);
    try {
      await runner.kill();
      // The watchdog checks every 500 ms; the program gets SIGTERM, then SIGKILL 2 s later.
      await poll(() => (running(pids.node) || running(pids.program) ? undefined : true), 5_000, 'both gone');
    } finally {
      signalPid(pids.node, 'SIGKILL');
      signalPid(pids.program, 'SIGKILL');
    }
  });
});
