// Scenario 7: connection caps. Two client processes on different loopback
// addresses: past the per-client cap and past the global cap, every transport
// answers 503 with Retry-After; once streams close (an operator closes one
// through the admin API, a client is killed) a client honouring Retry-After
// is admitted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, poll } from '../support/process.js';
import { spawnHolder } from './support/holder.js';
import { closeConnection, http, liveConnections, syncLogs } from './support/probe.js';
import { record } from './support/results.js';
import { type ChaosServer, closedLine, startServer } from './support/server.js';

const MAX = 6;
const PER_CLIENT = 4;

let server: ChaosServer;

beforeAll(async () => {
  server = await startServer('07-caps', [
    '--max-connections',
    String(MAX),
    '--max-connections-per-client',
    String(PER_CLIENT),
    '--ping-interval',
    '2s',
  ]);
});

afterAll(async () => {
  await server?.stop();
  await killAll();
});

describe('caps', () => {
  it('refuse over-cap streams with 503 + Retry-After on every transport and admit them once others close', async () => {
    const a = spawnHolder({
      base: server.url,
      localAddress: '127.0.0.2',
      concurrency: 1,
      streams: [{ kind: 'seed' }, { kind: 'seed' }, { kind: 'legacy' }, { kind: 'get' }],
    });
    const b = spawnHolder({ base: server.url, localAddress: '127.0.0.3', streams: [] });
    try {
      expect((await a.ready).map((s) => s.status)).toEqual([200, 200, 200, 200]);
      await b.ready;

      // Per client: A is at its cap, so its next stream is refused; B is not.
      a.send({ cmd: 'open', stream: { kind: 'seed' } });
      const perClient = await a.line((l) => l.type === 'refused' && l.i === 4, 5_000, 'A refused');
      expect(perClient.error).toMatchObject({
        status: 503,
        retryAfter: 1,
        code: 'TETHER_ERR_HTTP_CLIENT_AT_CAPACITY',
      });
      b.send({ cmd: 'open', stream: { kind: 'seed' } });
      b.send({ cmd: 'open', stream: { kind: 'seed' } });
      for (const i of [0, 1]) {
        expect(await b.line((l) => l.type === 'opened' && l.i === i, 5_000, `B ${i}`)).toMatchObject({
          status: 200,
        });
      }
      expect((await liveConnections(server)).length).toBe(MAX);
      expect((await http(`${server.url}/readyz`)).status).toBe(503);

      // Globally at the cap: every transport refuses B.
      const kinds = ['seed', 'legacy', 'get', 'modern'] as const;
      for (const kind of kinds) {
        b.send({
          cmd: 'open',
          stream: kind === 'modern' ? { kind, tool: { name: 'echo', arguments: { text: 'x' } } } : { kind },
        });
      }
      const refusals: Record<string, unknown> = {};
      for (let i = 2; i < 2 + kinds.length; i++) {
        const line = await b.line((l) => l.type === 'refused' && l.i === i, 5_000, `B refused ${i}`);
        expect(line.error).toMatchObject({ status: 503, retryAfter: 1, code: 'TETHER_ERR_HTTP_AT_CAPACITY' });
        refusals[String(line.kind)] = (line.error as { code: string }).code;
      }

      // B keeps trying, honouring Retry-After; an operator closes one of A's streams.
      b.send({ cmd: 'open-retry', maxAttempts: 5, stream: { kind: 'seed' } });
      await b.line((l) => l.type === 'refused' && l.i === 6, 5_000, 'B first attempt refused');
      const [first] = await a.ready;
      const closedAt = Date.now();
      const answer = await closeConnection(server, first!.connectionId!);
      expect(answer.status).toBe(200);
      expect((await closedLine(server, first!.connectionId!)).reason).toBe('manual');
      const manualEnd = await a.line((l) => l.type === 'ended' && l.i === 0, 5_000, 'A sees the close');
      expect(manualEnd).toMatchObject({ how: 'end', closeEvent: { reason: 'manual' }, retry: 1_000 });
      const admitted = await b.line((l) => l.type === 'opened' && l.i === 6, 5_000, 'B admitted');
      const admittedMs = Date.now() - closedAt;
      expect(admitted.attempt as number).toBeGreaterThanOrEqual(2);

      // A dies; its streams are released and B may use its own cap again, no more.
      a.signal('SIGKILL');
      await a.exited;
      await poll(
        async () => ((await liveConnections(server)).length === 3 ? true : undefined),
        2_000,
        "A's streams to be released",
      );
      b.send({ cmd: 'open', stream: { kind: 'legacy' } });
      b.send({ cmd: 'open', stream: { kind: 'legacy' } });
      expect(await b.line((l) => l.i === 7 && l.type !== 'ended', 5_000, 'B 7')).toMatchObject({
        type: 'opened',
      });
      expect((await b.line((l) => l.i === 8 && l.type !== 'ended', 5_000, 'B 8')).error).toMatchObject({
        status: 503,
        code: 'TETHER_ERR_HTTP_CLIENT_AT_CAPACITY',
      });
      await syncLogs(server);
      expect(server.logsOf('connection.refused').length).toBeGreaterThanOrEqual(kinds.length + 2);
      record('7-caps', 'run', {
        maxConnections: MAX,
        maxConnectionsPerClient: PER_CLIENT,
        refusedPerClient: (perClient.error as { code: string }).code,
        refusedGlobal: refusals,
        admittedAfterCloseMs: admittedMs,
        admittedOnAttempt: admitted.attempt,
      });
    } finally {
      a.signal('SIGKILL');
      b.signal('SIGKILL');
    }
    await b.exited;
    await poll(async () => ((await liveConnections(server)).length === 0 ? true : undefined), 2_000, 'empty');
  });
});
