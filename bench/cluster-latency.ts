/**
 * tools/call latency and throughput: one process in memory, vs. a Redis
 * cluster with the session created on node A and called on A (its origin)
 * or on B (a second node, which rebuilt the session from Redis).
 *
 *   node --import tsx bench/cluster-latency.ts [calls=2000] [concurrency=16] [rounds=3]
 *
 * Starts its own redis-server (from /usr/bin) on a free port; stops it by PID.
 */
import pino from 'pino';
import { createTether, type Tether } from '../src/index.js';
import { startRedis } from '../test/cluster/support/redis.js';
import { initSession, postSse, readUntil, rpc } from '../test/support/rpc.js';

const CALLS = Number(process.argv[2] ?? 2000);
const CONCURRENCY = Number(process.argv[3] ?? 16);
const ROUNDS = Number(process.argv[4] ?? 3);

async function node(redisUrl?: string): Promise<{ tether: Tether; url: string }> {
  const tether = createTether({
    logger: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
    ...(redisUrl ? { redisUrl } : {}),
  });
  const { url } = await tether.listen();
  return { tether, url };
}

let nextId = 1;
async function call(base: string, sid: string): Promise<number> {
  const id = nextId++;
  const started = performance.now();
  const s = await postSse(
    `${base}/mcp`,
    sid,
    rpc(id, 'tools/call', { name: 'add', arguments: { a: 1, b: 2 } }),
  );
  const got = await readUntil(s, (m) => m.message.id === id);
  if (got.at(-1)?.message.result === undefined) throw new Error('no result');
  return performance.now() - started;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
}

interface Result {
  p50: number;
  p99: number;
  rate: number;
}

async function measure(base: string, sid: string): Promise<Result> {
  for (let i = 0; i < 100; i++) await call(base, sid); // warm-up
  const serial: number[] = [];
  for (let i = 0; i < CALLS; i++) serial.push(await call(base, sid));
  serial.sort((x, y) => x - y);
  const started = performance.now();
  let issued = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (issued < CALLS) {
        issued++;
        await call(base, sid);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { p50: pct(serial, 50), p99: pct(serial, 99), rate: CALLS / seconds };
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] ?? Number.NaN;

const memory = await node();
const memSid = await initSession(`${memory.url}/mcp`);
const redis = await startRedis();
const a = await node(redis.url);
const b = await node(redis.url);
const sid = await initSession(`${a.url}/mcp`);
const targets: Array<[string, string, string]> = [
  ['in memory, one process', memory.url, memSid],
  ['Redis, on the node that created it', a.url, sid],
  ['Redis, through a second node', b.url, sid],
];
const results = new Map<string, Result[]>(targets.map(([label]) => [label, []]));
// Rounds interleave the setups so JIT warm-up and machine noise hit all alike.
for (let round = 0; round < ROUNDS; round++) {
  for (const [label, base, id] of targets) results.get(label)?.push(await measure(base, id));
}
console.log(
  `tools/call "add", ${CALLS} serial calls and ${CALLS} at concurrency ${CONCURRENCY}, median of ${ROUNDS} rounds`,
);
for (const [label, rs] of results) {
  console.log(
    `${label.padEnd(36)} p50 ${median(rs.map((r) => r.p50)).toFixed(2)} ms  p99 ${median(rs.map((r) => r.p99)).toFixed(2)} ms  ` +
      `${median(rs.map((r) => r.rate)).toFixed(0)} calls/s`,
  );
}
await Promise.all([memory.tether.close(), a.tether.close(), b.tether.close()]);
await redis.stop();
