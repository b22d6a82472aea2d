// Scenario 8: faults on either side. The tools module's setup throws for new
// sessions (close reason `error`); a client resets its socket (RST) under a
// flood; a client half-closes its socket. Each stream ends with one reason,
// nothing leaks, and the server keeps serving.
import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, poll, sleep } from '../support/process.js';
import { spawnHolder } from './support/holder.js';
import { baseline, http, leftovers, liveConnections, syncLogs } from './support/probe.js';
import { record } from './support/results.js';
import { type ChaosServer, closedLine, startServer } from './support/server.js';

let server: ChaosServer;

beforeAll(async () => {
  server = await startServer('08-faults', ['--ping-interval', '1s']);
});

afterAll(async () => {
  await server?.stop();
  await killAll();
});

const flood = { name: 'flood', arguments: { bytes: 4_096, perTick: 20, tickMs: 10, max: 4_000, tag: 'rst' } };

describe('faults', () => {
  it('a failing tools setup closes the new stream with `error`, leaks nothing, and the server serves again once it is fixed', async () => {
    const base = await baseline(server);
    writeFileSync(server.faultFile, '');
    const holder = spawnHolder({ base: server.url, streams: [{ kind: 'seed' }, { kind: 'legacy' }] });
    try {
      const [seed, legacy] = await holder.ready;
      expect(seed!.status).toBe(200);
      const seedEnd = await holder.line((l) => l.type === 'ended' && l.i === 0, 5_000, 'the seed stream end');
      expect(seedEnd).toMatchObject({ how: 'end', closeEvent: { reason: 'error' } });
      // The legacy stream ends before its endpoint event: the client sees it close.
      expect(legacy!.error?.message).toContain('ended');
      // (No log marker here: with the fault on, the marker tool cannot be served either.)
      const errors = await poll(
        () => {
          const found = server.logsOf('connection.closed').filter((l) => l.reason === 'error');
          return found.length >= 2 ? found : undefined;
        },
        5_000,
        'both streams to close with `error`',
      );
      expect(errors.map((l) => l.transport).sort()).toEqual(['http-sse', 'seed-sse']);
      expect(server.logsOf('seed_sse.setup_failed')).toHaveLength(1);
      expect(server.logsOf('http_sse.setup_failed')).toHaveLength(1);
      // A new 2025-era session fails cleanly too.
      const init = await http(`${server.url}/mcp`, {
        headers: { accept: 'application/json, text/event-stream' },
        body: {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-11-25',
            capabilities: {},
            clientInfo: { name: 'x', version: '1' },
          },
        },
      });
      expect(init.status).toBe(500);
      expect(await liveConnections(server)).toEqual([]);

      rmSync(server.faultFile);
      holder.send({ cmd: 'open', stream: { kind: 'seed' } });
      holder.send({ cmd: 'open', stream: { kind: 'legacy' } });
      for (const i of [2, 3]) {
        expect(await holder.line((l) => l.i === i && l.type !== 'ended', 5_000, `stream ${i}`)).toMatchObject(
          {
            type: 'opened',
            status: 200,
          },
        );
      }
      record('8-faults', 'setupError', { reasons: errors.map((l) => `${l.transport}: ${l.reason}`) });
    } finally {
      rmSync(server.faultFile, { force: true });
      holder.signal('SIGKILL');
    }
    await holder.exited;
    const leaked = await leftovers(server, base);
    expect(leaked).toEqual({ connections: 0, sessions: 0, sockets: 0, timers: 0, handles: 0 });
  });

  it('a client that resets its socket (RST) under a flood, or half-closes it, is released at once with one reason', async () => {
    const base = await baseline(server);
    const holder = spawnHolder({
      base: server.url,
      streams: [
        { kind: 'seed', tool: flood, flood: true },
        { kind: 'seed', tool: { name: 'countdown', arguments: { seconds: 60, stepMs: 100, tag: 'half' } } },
      ],
    });
    try {
      const [flooded, idle] = await holder.ready;
      // Let the flood back up in the client's buffers, so the RST meets unsent data.
      holder.send({ cmd: 'pause', i: 0 });
      await sleep(300);
      const resetAt = Date.now();
      holder.send({ cmd: 'reset', i: 0 });
      const rst = await closedLine(server, flooded!.connectionId!);
      const halfAt = Date.now();
      holder.send({ cmd: 'half-close', i: 1 });
      const half = await closedLine(server, idle!.connectionId!);
      await poll(
        () => server.toolEvents().find((e) => e.tag === 'half' && e.event === 'abort'),
        2_000,
        'the half-closed stream call to be aborted',
      );
      // write_failed is what a failed write would give; a reset or closed socket
      // reaches the response as 'close' first, so both read as client_disconnect.
      expect(rst.reason).toBe('client_disconnect');
      expect(half.reason).toBe('client_disconnect');
      await syncLogs(server);
      expect(server.logsOf('connection.closed').filter((l) => l.reason === 'write_failed')).toEqual([]);
      record('8-faults', 'socketFaults', {
        rstUnderFlood: { reason: rst.reason, releaseMs: rst.t - resetAt },
        halfClose: { reason: half.reason, releaseMs: half.t - halfAt },
        writeFailedProvoked: false,
      });
    } finally {
      holder.signal('SIGKILL');
    }
    await holder.exited;
    const leaked = await leftovers(server, base);
    expect(leaked).toEqual({ connections: 0, sessions: 0, sockets: 0, timers: 0, handles: 0 });
    record('8-faults', 'leaked', leaked);
  });
});
