import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { buildTether, type TetherBuild } from './lib/build.js';
import { CLIENT_CPU, CPUS, killAll, loadAverage, PINNED, REPO, SERVER_CPU, sleep } from './lib/proc.js';
import {
  ABORT_TARGETS,
  abortRep,
  DISCONNECT_TARGETS,
  type DisconnectRep,
  disconnectRep,
  type LatencySet,
  STORM_TARGETS,
  type StormRep,
  stormRep,
} from './phases/disconnect.js';
import { KEEPALIVE_TARGETS, type KeepaliveRun, keepaliveRun } from './phases/keepalive.js';
import { STREAM_TARGETS, type StreamsRep, streamsRep } from './phases/streams.js';
import {
  baseId,
  baselineTargets,
  THROUGHPUT_TARGETS,
  type ThroughputSample,
  type ThroughputTarget,
  throughputRep,
} from './phases/throughput.js';
import { baselineTable, writeReport } from './report.js';

/**
 * `npm run bench`: every figure for mcp-tether and, in the same run, for the
 * reference servers, repeated and interleaved (repetition outside, servers
 * inside, so drift hits every server alike). Server on CPU 0, clients on
 * CPU 1 (taskset). Writes the raw results to bench/results/raw/, then
 * BENCHMARKS.md and bench/results/chart.svg.
 *
 * Environment:
 *   BENCH_QUICK=1         a ~2-minute smoke run (1 repetition, short windows, small counts)
 *   BENCH_REPS=n          repetitions (default 3)
 *   BENCH_TARGETS=a,b     only these target ids (e.g. tether,sdk1-sse), in every phase
 *   BENCH_ALL=1           also the targets left out of the default run for time (SDK 1.x HTTP+SSE throughput)
 *   BENCH_PHASES=a,b      subset of throughput,streams,disconnect,keepalive
 *   BENCH_WAIT_QUIET=1    first wait (up to BENCH_QUIET_MAX_MIN, default 20 min) for a 1-minute load average below 0.6
 *   BENCH_NO_REPORT=1     keep BENCHMARKS.md as it is (results JSON only)
 *   BENCH_BASELINE=dir    another checkout of this repository (with its node_modules, a symlink will
 *                         do): its src/ is built too, and throughput adds tether@base and
 *                         tether-2026@base (its own bench/servers/tether.ts, run in that checkout),
 *                         each right beside its current twin; prints current ÷ base per figure
 */

const QUICK = process.env.BENCH_QUICK === '1';
const ALL = process.env.BENCH_ALL === '1';
/** Only these target ids (comma-separated), in every phase; default all. */
const ONLY = process.env.BENCH_TARGETS?.split(',').map((id) => id.trim());
const picked = (t: { id: string }) => ONLY === undefined || ONLY.includes(t.id);
const QUIET_MAX_MIN = Number(process.env.BENCH_QUIET_MAX_MIN ?? 20);
const REPS = Number(process.env.BENCH_REPS ?? (QUICK ? 1 : 3));
/** Another checkout to compare with, resolved through symlinks. */
const BASELINE = process.env.BENCH_BASELINE ? realpathSync(process.env.BENCH_BASELINE) : undefined;
const PHASES = new Set(
  (process.env.BENCH_PHASES ?? 'throughput,streams,disconnect,keepalive').split(',').map((s) => s.trim()),
);

const settings = {
  throughput: QUICK
    ? { concurrencies: [1, 64], warmupMs: 500, durationMs: 2_000 }
    : { concurrencies: [1, 64], warmupMs: 1_500, durationMs: 10_000 },
  streams: QUICK
    ? { counts: [200, 1_000], stageTimeoutMs: 10_000 }
    : { counts: [1_000, 10_000], stageTimeoutMs: 30_000 },
  disconnect: QUICK ? { streams: 20, gapMs: 10 } : { streams: 100, gapMs: 10 },
  storm: QUICK
    ? { processes: 4, perProcess: 50, idleTtlMs: 2_000 }
    : { processes: 10, perProcess: 100, idleTtlMs: 2_000 },
  keepalive: QUICK
    ? { streams: 1_000, windows: 1, windowMs: { 15000: 5_000, 1000: 2_000 } as Record<number, number> }
    : { streams: 10_000, windows: 3, windowMs: { 15000: 15_000, 1000: 3_000 } as Record<number, number> },
};

/** Everything a run produced; report.ts renders it. */
export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  durationS: number;
  quick: boolean;
  reps: number;
  settings: typeof settings;
  machine: {
    cpuModel: string;
    cpus: number;
    memGiB: number;
    kernel: string;
    node: string;
    pinned: boolean;
    serverCpu: number;
    clientCpu: number;
    nofile: string;
    loadBefore: number;
    loadAfter: number;
    quietWaitS: number;
    quiet: boolean;
  };
  versions: Record<string, string>;
  tether: TetherBuild;
  /** The other checkout's build (BENCH_BASELINE), measured as `<id>@base`. */
  baseline?: TetherBuild & { checkout: string };
  throughput: Record<string, ThroughputSample[][]>;
  streams: Record<string, StreamsRep[]>;
  disconnect: Record<string, DisconnectRep[]>;
  abort: Record<string, LatencySet[]>;
  storm: Record<string, StormRep[]>;
  keepalive: Record<string, KeepaliveRun[]>;
  errors: string[];
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function versionOf(pkg: string): string {
  try {
    return (
      JSON.parse(readFileSync(`${REPO}/node_modules/${pkg}/package.json`, 'utf8')) as { version: string }
    ).version;
  } catch {
    return 'not installed';
  }
}

async function waitQuiet(): Promise<{ waitedS: number; quiet: boolean }> {
  const started = Date.now();
  for (;;) {
    const load = loadAverage();
    if (load < 0.6) return { waitedS: (Date.now() - started) / 1000, quiet: true };
    if (Date.now() - started > QUIET_MAX_MIN * 60_000)
      return { waitedS: (Date.now() - started) / 1000, quiet: false };
    log(`load average ${load.toFixed(2)}, waiting for < 0.6`);
    await sleep(30_000);
  }
}

async function attempt<T>(what: string, errors: string[], fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    const message = `${what}: ${(err as Error).message.split('\n').slice(0, 4).join(' | ')}`;
    log(`FAILED ${message}`);
    errors.push(message);
    return undefined;
  }
}

function push<T>(into: Record<string, T[]>, key: string, value: T | undefined): void {
  if (value === undefined) return;
  into[key] ??= [];
  (into[key] as T[]).push(value);
}

/** Fails before any build when BENCH_BASELINE cannot run. */
function checkBaseline(checkout: string): void {
  if (checkout === realpathSync(REPO)) throw new Error('BENCH_BASELINE is this checkout');
  for (const needed of ['bench/servers/tether.ts', 'tsconfig.build.json', 'node_modules/.bin/tsx'])
    if (!existsSync(`${checkout}/${needed}`)) throw new Error(`BENCH_BASELINE: no ${needed} in ${checkout}`);
}

/**
 * One repetition's throughput targets, in order. With BENCH_BASELINE each
 * mcp-tether target has its base twin beside it, first on even repetitions,
 * so neither always runs second on a machine the other just warmed.
 */
function throughputTargets(rep: number): ThroughputTarget[] {
  const twins = BASELINE === undefined ? [] : baselineTargets(BASELINE);
  return THROUGHPUT_TARGETS.filter((x) => (ALL || !x.extra) && picked(x)).flatMap((t) => {
    const twin = twins.find((b) => b.id === baseId(t.id));
    if (twin === undefined) return [t];
    return rep % 2 === 1 ? [t, twin] : [twin, t];
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const quietWait = process.env.BENCH_WAIT_QUIET === '1' ? await waitQuiet() : { waitedS: 0, quiet: true };
  const loadBefore = loadAverage();
  if (BASELINE !== undefined) checkBaseline(BASELINE);
  log('building mcp-tether from src/ ...');
  const tether = buildTether();
  let baseline: BenchResults['baseline'];
  if (BASELINE !== undefined) {
    log(`building the base mcp-tether from ${BASELINE}/src/ ...`);
    baseline = { ...buildTether(BASELINE), checkout: BASELINE };
  }
  const results: BenchResults = {
    startedAt: new Date(started).toISOString(),
    finishedAt: '',
    durationS: 0,
    quick: QUICK,
    reps: REPS,
    settings,
    machine: {
      cpuModel: cpus()[0]?.model ?? 'unknown',
      cpus: CPUS,
      memGiB: Math.round(totalmem() / 2 ** 30),
      kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
      node: process.version,
      pinned: PINNED,
      serverCpu: SERVER_CPU,
      clientCpu: CLIENT_CPU,
      nofile: execFileSync('bash', ['-c', 'echo "$(ulimit -Sn) soft / $(ulimit -Hn) hard"'])
        .toString()
        .trim(),
      loadBefore,
      loadAfter: 0,
      quietWaitS: quietWait.waitedS,
      quiet: quietWait.quiet && loadBefore < 0.6,
    },
    versions: {
      '@modelcontextprotocol/sdk': versionOf('@modelcontextprotocol/sdk'),
      '@modelcontextprotocol/server': versionOf('@modelcontextprotocol/server'),
      '@modelcontextprotocol/node': versionOf('@modelcontextprotocol/node'),
      fastmcp: versionOf('fastmcp'),
      'mcp-proxy': versionOf('mcp-proxy'),
    },
    tether,
    baseline,
    throughput: {},
    streams: {},
    disconnect: {},
    abort: {},
    storm: {},
    keepalive: {},
    errors: [],
  };
  const { errors } = results;

  for (let rep = 1; rep <= REPS; rep++) {
    if (PHASES.has('throughput')) {
      for (const t of throughputTargets(rep)) {
        log(`rep ${rep}/${REPS} throughput ${t.id}`);
        // A failed repetition stays as an empty one, so ratios still pair repetition i with i.
        push(
          results.throughput,
          t.id,
          (await attempt(`throughput ${t.id}`, errors, () => throughputRep(t, settings.throughput))) ?? [],
        );
      }
    }
    if (PHASES.has('streams')) {
      for (const t of STREAM_TARGETS.filter(picked)) {
        log(`rep ${rep}/${REPS} idle streams ${t.id}`);
        push(
          results.streams,
          t.id,
          await attempt(`streams ${t.id}`, errors, () => streamsRep(t, settings.streams)),
        );
      }
    }
    if (PHASES.has('disconnect')) {
      for (const t of DISCONNECT_TARGETS.filter(picked)) {
        log(`rep ${rep}/${REPS} disconnect ${t.id}`);
        push(
          results.disconnect,
          t.id,
          await attempt(`disconnect ${t.id}`, errors, () => disconnectRep(t, settings.disconnect)),
        );
      }
      for (const t of ABORT_TARGETS.filter(picked)) {
        log(`rep ${rep}/${REPS} abort ${t.id}`);
        push(
          results.abort,
          t.id,
          await attempt(`abort ${t.id}`, errors, () => abortRep(t.server, settings.disconnect)),
        );
      }
      for (const t of STORM_TARGETS.filter(picked)) {
        log(`rep ${rep}/${REPS} SIGKILL storm ${t.id}`);
        const s = settings.storm;
        push(
          results.storm,
          t.id,
          await attempt(`storm ${t.id}`, errors, () =>
            stormRep(t.server, s.processes, s.perProcess, s.idleTtlMs),
          ),
        );
      }
    }
  }
  // Keepalive windows are the repetitions here: consecutive windows on one server per target.
  if (PHASES.has('keepalive')) {
    for (const t of KEEPALIVE_TARGETS.filter(picked)) {
      log(`keepalive ${t.id}`);
      const k = settings.keepalive;
      const windowMs = k.windowMs[t.intervalMs] ?? 5_000;
      push(
        results.keepalive,
        t.id,
        await attempt(`keepalive ${t.id}`, errors, () => keepaliveRun(t, k.streams, k.windows, windowMs)),
      );
    }
  }

  results.finishedAt = new Date().toISOString();
  results.durationS = (Date.now() - started) / 1000;
  results.machine.loadAfter = loadAverage();
  mkdirSync(`${REPO}/bench/results/raw`, { recursive: true });
  const file = `${REPO}/bench/results/raw/${results.startedAt.replace(/[:.]/g, '-')}.json.txt`;
  writeFileSync(file, JSON.stringify(results));
  log(`results: ${file} (${results.durationS.toFixed(0)} s, ${errors.length} errors)`);
  if (baseline !== undefined) process.stdout.write(`\n${baselineTable(results)}\n`);
  if (process.env.BENCH_NO_REPORT !== '1') {
    writeReport(results, file);
    log('wrote BENCHMARKS.md and bench/results/chart.svg');
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    killAll();
    log(`fatal: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
