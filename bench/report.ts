import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { REPO } from './lib/proc.js';
import { DISCONNECT_TARGETS, type LatencySet } from './phases/disconnect.js';
import { KEEPALIVE_TARGETS } from './phases/keepalive.js';
import { STREAM_TARGETS } from './phases/streams.js';
import { BASELINE_IDS, baseId, THROUGHPUT_TARGETS, type ThroughputSample } from './phases/throughput.js';
import type { BenchResults } from './run.js';

/**
 * Renders a results file into BENCHMARKS.md (between the `bench:results`
 * markers, so the analysis around them is kept) and bench/results/chart.svg.
 * Run on its own to re-render: `node --import tsx bench/report.ts <results file>`.
 */

const START = '<!-- bench:results:start -->';
const END = '<!-- bench:results:end -->';

function median(values: number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function spread(values: number[], digits = 0): string {
  const s = values.filter((v) => Number.isFinite(v));
  if (s.length < 2) return '';
  return ` (${fmt(Math.min(...s), digits)}–${fmt(Math.max(...s), digits)})`;
}

function fmt(v: number, digits = 0): string {
  if (!Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Median with its min–max across repetitions. */
function ms(values: number[], digits = 0): string {
  return `${fmt(median(values), digits)}${spread(values, digits)}`;
}

function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '–';
}

function sample(results: BenchResults, id: string, concurrency: number): ThroughputSample[] {
  return (results.throughput[id] ?? []).flatMap((rep) => rep.filter((s) => s.concurrency === concurrency));
}

/** Per-repetition ratios of mcp-tether to a reference (same repetition, same run). */
function repRatios(
  results: BenchResults,
  a: string,
  b: string,
  c: number,
  pick: (s: ThroughputSample) => number,
) {
  const ra = results.throughput[a] ?? [];
  const rb = results.throughput[b] ?? [];
  const out: number[] = [];
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const x = ra[i]?.find((s) => s.concurrency === c);
    const y = rb[i]?.find((s) => s.concurrency === c);
    if (x && y) out.push(pick(x) / pick(y));
  }
  return out;
}

function throughputTables(r: BenchResults): string {
  const out: string[] = [];
  for (const c of r.settings.throughput.concurrencies) {
    out.push(`#### ${c} request${c === 1 ? '' : 's'} in flight\n`);
    out.push(
      '| server | req/s | p50 ms | p99 ms | server CPU % | req per server CPU-second | server RSS MB | client CPU % | errors | mcp-tether (2025) req/s ÷ this | mcp-tether p50 ÷ this |',
    );
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const t of THROUGHPUT_TARGETS) {
      const s = sample(r, t.id, c);
      if (s.length === 0) continue;
      const rps = repRatios(r, 'tether', t.id, c, (x) => x.requestsPerSecond);
      const p50 = repRatios(r, 'tether', t.id, c, (x) => x.latencyMs.p50);
      out.push(
        `| ${t.label} | ${ms(s.map((x) => x.requestsPerSecond))} | ${ms(
          s.map((x) => x.latencyMs.p50),
          2,
        )} | ${ms(
          s.map((x) => x.latencyMs.p99),
          1,
        )} | ${fmt(median(s.map((x) => x.serverCpuPercent)))} | ${ms(
          s.map((x) => x.requestsPerSecond / (x.serverCpuPercent / 100)),
        )} | ${fmt(
          median(s.map((x) => x.serverRssBytes / 1e6)),
        )} | ${fmt(median(s.map((x) => x.clientCpuPercent)))} | ${s.reduce((n, x) => n + x.errors, 0)} | ${
          t.id === 'tether' ? '1' : `${ratio(median(rps), 1)}${spread(rps, 2)}`
        } | ${t.id === 'tether' ? '1' : `${ratio(median(p50), 1)}`} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}

/**
 * mcp-tether against the base checkout (BENCH_BASELINE), per target and
 * concurrency: each figure's median for both, and current ÷ base taken within
 * each repetition, median (min–max). Above 1 is faster for req/s, slower for p50 and p99.
 */
export function baselineTable(r: BenchResults): string {
  const b = r.baseline;
  if (b === undefined) return '';
  const figures: [string, (s: ThroughputSample) => number, number][] = [
    ['req/s', (s) => s.requestsPerSecond, 0],
    ['p50 ms', (s) => s.latencyMs.p50, 3],
    ['p99 ms', (s) => s.latencyMs.p99, 2],
  ];
  const head = figures.flatMap(([name]) => [name, `${name} base`, 'current ÷ base']);
  const out = [
    `mcp-tether ${r.tether.commit}${r.tether.dirtyFiles ? ` + ${r.tether.dirtyFiles} uncommitted file(s)` : ''} (current) vs ${b.commit}${b.dirtyFiles ? ` + ${b.dirtyFiles} uncommitted file(s)` : ''} (base, \`${b.checkout}\`), ${r.reps} repetition${r.reps === 1 ? '' : 's'}${r.quick ? ', BENCH_QUICK=1 smoke run' : ''}. Ratios are current ÷ base within a repetition, median (min–max): above 1 is faster for req/s, slower for p50 and p99.`,
    '',
    `| target | in flight | ${head.join(' | ')} |`,
    `|---|---:|${head.map(() => '---:').join('|')}|`,
  ];
  for (const t of THROUGHPUT_TARGETS.filter((x) => BASELINE_IDS.includes(x.id))) {
    for (const c of r.settings.throughput.concurrencies) {
      const now = sample(r, t.id, c);
      const base = sample(r, baseId(t.id), c);
      if (now.length === 0 && base.length === 0) continue;
      const cells = figures.flatMap(([, pick, digits]) => {
        const ratios = repRatios(r, t.id, baseId(t.id), c, pick);
        return [
          ms(now.map(pick), digits),
          ms(base.map(pick), digits),
          `${ratio(median(ratios), 1)}${spread(ratios, 2)}`,
        ];
      });
      out.push(`| ${t.label} | ${c} | ${cells.join(' | ')} |`);
    }
  }
  return out.join('\n');
}

function streamTables(r: BenchResults): string {
  const out: string[] = [];
  out.push(
    '| streams | count | opened | failures | RSS per stream KB | V8 heap per stream KB | RSS MB | opening, sessions/s | 50,000 streams (extrapolated) MB |',
  );
  out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const t of STREAM_TARGETS) {
    const reps = r.streams[t.id] ?? [];
    for (const count of r.settings.streams.counts) {
      const stages = reps.flatMap((rep) => rep.stages.filter((s) => s.target === count));
      if (stages.length === 0) continue;
      const perStream = stages.map((s) => s.rssPerStreamBytes / 1024);
      const base = median(reps.map((rep) => rep.baselineRssBytes));
      const extrapolated = (base + 50_000 * median(stages.map((s) => s.rssPerStreamBytes))) / 1e6;
      const timedOut = stages.some((s) => s.openTimedOut) ? ' (time cap hit)' : '';
      out.push(
        `| ${t.label} | ${fmt(count)} | ${fmt(median(stages.map((s) => s.opened)))}${timedOut} | ${stages.reduce(
          (n, s) => n + s.failures,
          0,
        )} | ${ms(perStream, 1)} | ${ms(
          stages.map((s) => s.heapPerStreamBytes / 1024),
          1,
        )} | ${fmt(median(stages.map((s) => s.rssBytes / 1e6)))} | ${ms(stages.map((s) => s.openRate))} | ${
          count === Math.max(...r.settings.streams.counts) ? fmt(extrapolated) : ''
        } |`,
      );
    }
  }
  return out.join('\n');
}

function fanoutTable(r: BenchResults): string {
  const out = [
    '| streams | listening | received | first ms | median ms | last (all) ms | server notify call ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of STREAM_TARGETS) {
    const f = (r.streams[t.id] ?? []).flatMap((rep) => (rep.fanout ? [rep.fanout] : []));
    if (f.length === 0) continue;
    out.push(
      `| ${t.label} | ${fmt(median(f.map((x) => x.streams)))} | ${fmt(median(f.map((x) => x.received)))} | ${ms(
        f.map((x) => x.firstMs),
        1,
      )} | ${ms(
        f.map((x) => x.p50Ms),
        1,
      )} | ${ms(
        f.map((x) => x.lastMs),
        1,
      )} | ${ms(
        f.map((x) => x.serverCallMs),
        1,
      )} |`,
    );
  }
  return out.join('\n');
}

function lat(sets: LatencySet[], key: 'p50' | 'p99' | 'max'): string {
  return ms(
    sets.map((s) => s[key]),
    2,
  );
}

function disconnectTables(r: BenchResults): string {
  const out = [
    '| stream | FIN p50 ms | FIN p99 ms | RST p50 ms | RST p99 ms | SIGKILL p50 ms | SIGKILL p99 ms | SIGKILL all released ms | not released |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of DISCONNECT_TARGETS) {
    const reps = r.disconnect[t.id] ?? [];
    if (reps.length === 0) continue;
    const missing = reps.reduce((n, x) => n + x.fin.missing + x.rst.missing + x.sigkill.missing, 0);
    out.push(
      `| ${t.label} | ${lat(
        reps.map((x) => x.fin),
        'p50',
      )} | ${lat(
        reps.map((x) => x.fin),
        'p99',
      )} | ${lat(
        reps.map((x) => x.rst),
        'p50',
      )} | ${lat(
        reps.map((x) => x.rst),
        'p99',
      )} | ${lat(
        reps.map((x) => x.sigkill),
        'p50',
      )} | ${lat(
        reps.map((x) => x.sigkill),
        'p99',
      )} | ${lat(
        reps.map((x) => x.sigkill),
        'max',
      )} | ${missing} |`,
    );
  }
  out.push('');
  out.push("2026-07-28 `tools/call` of a running tool, client FIN → the handler's `AbortSignal`:\n");
  out.push('| server | calls | p50 ms | p99 ms | max ms | never aborted |');
  out.push('|---|---:|---:|---:|---:|---:|');
  for (const [id, sets] of Object.entries(r.abort)) {
    const label = id === 'tether' ? 'mcp-tether' : id === 'sdk2' ? 'SDK v2 createMcpHandler' : id;
    out.push(
      `| ${label} | ${sets.reduce((n, s) => n + s.n, 0)} | ${lat(sets, 'p50')} | ${lat(sets, 'p99')} | ${lat(
        sets,
        'max',
      )} | ${sets.reduce((n, s) => n + s.missing, 0)} |`,
    );
  }
  out.push('');
  out.push(
    `SIGKILL storm: ${r.settings.storm.processes} client processes holding ${r.settings.storm.perProcess} sessions each (a GET stream per session) killed at once:\n`,
  );
  out.push(
    '| server | sessions opened | streams left after 2 s | sessions left after the idle TTL | killed sessions still answering `tools/call` |',
  );
  out.push('|---|---:|---:|---:|---:|');
  for (const [id, reps] of Object.entries(r.storm)) {
    const label =
      id === 'tether'
        ? `mcp-tether (idle TTL ${r.settings.storm.idleTtlMs / 1000} s)`
        : id === 'sdk1'
          ? 'SDK 1.x Streamable HTTP (no TTL)'
          : 'fastmcp httpStream (no TTL)';
    out.push(
      `| ${label} | ${ms(reps.map((x) => x.sessionsOpened))} | ${ms(reps.map((x) => x.streamsLeft))} | ${ms(
        reps.map((x) => x.sessionsLeft),
      )} | ${reps.map((x) => `${x.stillAnswering}/${x.sampled}`).join(', ')} |`,
    );
  }
  return out.join('\n');
}

function keepaliveTable(r: BenchResults): string {
  const out = [
    '| streams, interval | streams | server CPU % of one core | keepalives seen by the client /s |',
    '|---|---:|---:|---:|',
  ];
  for (const t of KEEPALIVE_TARGETS) {
    const runs = r.keepalive[t.id] ?? [];
    const w = runs.flatMap((x) => x.windows);
    if (w.length === 0) continue;
    out.push(
      `| ${t.label} | ${fmt(median(runs.map((x) => x.streams)))} | ${ms(
        w.map((x) => x.serverCpuPercent),
        2,
      )} | ${ms(w.map((x) => x.pingsPerSecond))} |`,
    );
  }
  return out.join('\n');
}

interface Check {
  target: string;
  measured: string;
  met: boolean | undefined;
}

function checks(r: BenchResults): Check[] {
  const rps = (id: string, c: number) => median(sample(r, id, c).map((s) => s.requestsPerSecond));
  const p50 = (id: string, c: number) => median(sample(r, id, c).map((s) => s.latencyMs.p50));
  const vsSdk = median(repRatios(r, 'tether', 'sdk1-sse', 64, (x) => x.requestsPerSecond));
  const vsRaw = median(repRatios(r, 'tether', 'raw', 64, (x) => x.requestsPerSecond));
  const p50Ratio = median(repRatios(r, 'tether', 'sdk1-sse', 1, (x) => x.latencyMs.p50));
  const stage = (id: string, count: number) =>
    (r.streams[id] ?? []).flatMap((rep) => rep.stages.filter((s) => s.target === count));
  const top = Math.max(...r.settings.streams.counts);
  const perStream = (id: string) => median(stage(id, top).map((s) => s.rssPerStreamBytes)) / 1024;
  const base = (id: string) => median((r.streams[id] ?? []).map((rep) => rep.baselineRssBytes));
  const at50k = (id: string) => (base(id) + 50_000 * perStream(id) * 1024) / 1e6;
  const openRate = median(stage('tether', top).map((s) => s.openRate));
  const finP99 = median((r.disconnect.tether ?? []).map((x) => x.fin.p99));
  const rstP99 = median((r.disconnect.tether ?? []).map((x) => x.rst.p99));
  const killP99 = median((r.disconnect.tether ?? []).map((x) => x.sigkill.p99));
  const abortP99 = median((r.abort.tether ?? []).map((x) => x.p99));
  const storm = r.storm.tether ?? [];
  const ka = (r.keepalive['tether-listen-15s'] ?? []).flatMap((x) => x.windows);
  const kaGet = (r.keepalive['tether-get-15s'] ?? []).flatMap((x) => x.windows);
  const fan = (id: string) =>
    median((r.streams[id] ?? []).flatMap((rep) => (rep.fanout ? [rep.fanout.lastMs] : [])));
  const ok = (v: number, pass: (v: number) => boolean) => (Number.isFinite(v) ? pass(v) : undefined);
  return [
    {
      target: 'tools/call at 64 in flight ≥ 3× SDK 1.x Streamable HTTP (SSE)',
      measured: `${fmt(rps('tether', 64))} vs ${fmt(rps('sdk1-sse', 64))} req/s: ${vsSdk.toFixed(2)}×`,
      met: ok(vsSdk, (v) => v >= 3),
    },
    {
      target: 'tools/call at 64 in flight ≥ 60% of raw node:http',
      measured: `${fmt(rps('tether', 64))} vs ${fmt(rps('raw', 64))} req/s: ${(vsRaw * 100).toFixed(0)}%`,
      met: ok(vsRaw, (v) => v >= 0.6),
    },
    {
      target: 'p50 at 1 in flight ≤ half the SDK 1.x (SSE)',
      measured: `${p50('tether', 1).toFixed(3)} vs ${p50('sdk1-sse', 1).toFixed(3)} ms: ${p50Ratio.toFixed(2)}×`,
      met: ok(p50Ratio, (v) => v <= 0.5),
    },
    {
      target: `≤ 15 KB RSS per idle stream at ${fmt(top)} streams (2025 session used, then idle / 2026 listen)`,
      measured: `${perStream('tether-hibernated').toFixed(1)} / ${perStream('tether-listen').toFixed(1)} KB`,
      met: ok(Math.max(perStream('tether-hibernated'), perStream('tether-listen')), (v) => v <= 15),
    },
    {
      target: '50,000 streams in < 1 GB (extrapolated from the slope; see the fd limit)',
      measured: `${fmt(at50k('tether-hibernated'))} / ${fmt(at50k('tether-listen'))} MB`,
      met: ok(Math.max(at50k('tether-hibernated'), at50k('tether-listen')), (v) => v < 1000),
    },
    {
      target: 'opening ≥ 3,000 sessions/s (initialize + GET stream)',
      measured: `${fmt(openRate)} sessions/s`,
      met: ok(openRate, (v) => v >= 3000),
    },
    {
      target: 'p99 FIN / RST / SIGKILL → release < 20 ms',
      measured: `${finP99.toFixed(2)} / ${rstP99.toFixed(2)} / ${killP99.toFixed(2)} ms`,
      met: ok(Math.max(finP99, rstP99, killP99), (v) => v < 20),
    },
    {
      target: 'p99 2026-07-28 FIN → tool abort < 20 ms',
      measured: `${abortP99.toFixed(2)} ms`,
      met: ok(abortP99, (v) => v < 20),
    },
    {
      target: '0 sessions left after the SIGKILL storm once the idle TTL passed',
      measured:
        storm.map((s) => `${s.sessionsLeft} left, ${s.stillAnswering}/${s.sampled} answering`).join('; ') ||
        '–',
      met:
        storm.length === 0 ? undefined : storm.every((s) => s.sessionsLeft === 0 && s.stillAnswering === 0),
    },
    {
      target: 'keepalive for 10,000 streams at 15 s < 1% of a core (listen / 2025 GET with liveness)',
      measured: `${median(ka.map((w) => w.serverCpuPercent)).toFixed(2)}% / ${median(kaGet.map((w) => w.serverCpuPercent)).toFixed(2)}%`,
      met: ok(median(ka.map((w) => w.serverCpuPercent)), (v) => v < 1),
    },
    {
      target: `fan-out to ${fmt(top)} streams < 100 ms (listen / 2025 GET)`,
      measured: `${fan('tether-listen').toFixed(1)} / ${fan('tether').toFixed(1)} ms`,
      met: ok(Math.max(fan('tether-listen'), fan('tether')), (v) => v < 100),
    },
  ];
}

function checksTable(r: BenchResults): string {
  const out = ['| target | measured (medians) | |', '|---|---|---|'];
  for (const c of checks(r))
    out.push(
      `| ${c.target} | ${c.measured} | ${c.met === undefined ? 'not measured' : c.met ? 'met' : '**missed**'} |`,
    );
  return out.join('\n');
}

const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Two panels: req/s at 64 in flight per server; RSS vs idle streams per stream kind. */
export function chartSvg(r: BenchResults): string {
  const W = 1100;
  const H = 460;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11" role="img" aria-labelledby="chart-title">`,
    '<title id="chart-title">mcp-tether and reference MCP servers: tools/call throughput and RSS vs idle streams</title>',
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  // Panel 1: throughput bars.
  const c = Math.max(...r.settings.throughput.concurrencies);
  const bars = THROUGHPUT_TARGETS.map((t) => ({
    t,
    v: median(sample(r, t.id, c).map((s) => s.requestsPerSecond)),
  })).filter((b) => Number.isFinite(b.v));
  const x0 = 60;
  const y0 = 60;
  const pw = 440;
  const ph = 300;
  const maxV = Math.max(1, ...bars.map((b) => b.v)) * 1.1;
  parts.push(
    `<text x="${x0}" y="30" font-size="14" font-weight="bold">tools/call req/s, ${c} in flight (median of ${r.reps})</text>`,
  );
  parts.push(`<line x1="${x0}" y1="${y0 + ph}" x2="${x0 + pw}" y2="${y0 + ph}" stroke="#333"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (maxV / 4) * i;
    const y = y0 + ph - (v / maxV) * ph;
    parts.push(`<line x1="${x0}" y1="${y}" x2="${x0 + pw}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 - 6}" y="${y + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  const bw = pw / Math.max(1, bars.length);
  bars.forEach((b, i) => {
    const h = (b.v / maxV) * ph;
    const x = x0 + i * bw + bw * 0.15;
    const fill = b.t.server === 'tether' ? '#d62728' : b.t.server === 'raw' ? '#7f7f7f' : '#1f77b4';
    parts.push(`<rect x="${x}" y="${y0 + ph - h}" width="${bw * 0.7}" height="${h}" fill="${fill}"/>`);
    parts.push(`<text x="${x + bw * 0.35}" y="${y0 + ph - h - 4}" text-anchor="middle">${fmt(b.v)}</text>`);
    parts.push(
      `<text transform="translate(${x + bw * 0.35},${y0 + ph + 10}) rotate(35)" font-size="10">${esc(b.t.id)}</text>`,
    );
  });
  // Panel 2: RSS vs streams.
  const x1 = 600;
  const pw2 = 440;
  const counts = [0, ...r.settings.streams.counts];
  const maxN = Math.max(...counts);
  // Each point at the streams actually open (a stage may stop short of its count).
  const series = STREAM_TARGETS.map((t) => {
    const reps = r.streams[t.id] ?? [];
    const pts = counts
      .map((n) => {
        if (n === 0) return { n: 0, v: median(reps.map((x) => x.baselineRssBytes / 1e6)) };
        const stages = reps.flatMap((x) => x.stages.filter((s) => s.target === n));
        return { n: median(stages.map((s) => s.opened)), v: median(stages.map((s) => s.rssBytes / 1e6)) };
      })
      .filter((p) => Number.isFinite(p.v) && Number.isFinite(p.n));
    return { t, pts };
  }).filter((s) => s.pts.length > 1);
  const maxR = Math.max(1, ...series.flatMap((s) => s.pts.map((p) => p.v))) * 1.1;
  const px = (n: number) => (x1 + (n / maxN) * pw2).toFixed(1);
  const py = (v: number) => (y0 + ph - (v / maxR) * ph).toFixed(1);
  parts.push(
    `<text x="${x1}" y="30" font-size="14" font-weight="bold">server RSS (MB) vs idle streams</text>`,
  );
  parts.push(`<line x1="${x1}" y1="${y0 + ph}" x2="${x1 + pw2}" y2="${y0 + ph}" stroke="#333"/>`);
  parts.push(`<line x1="${x1}" y1="${y0}" x2="${x1}" y2="${y0 + ph}" stroke="#333"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (maxR / 4) * i;
    parts.push(`<line x1="${x1}" y1="${py(v)}" x2="${x1 + pw2}" y2="${py(v)}" stroke="#eee"/>`);
    parts.push(`<text x="${x1 - 6}" y="${Number(py(v)) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  for (const n of counts)
    parts.push(`<text x="${px(n)}" y="${y0 + ph + 16}" text-anchor="middle">${fmt(n)}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.pts.map((p) => `${px(p.n)},${py(p.v)}`);
    const dash = s.t.server === 'tether' ? '' : ' stroke-dasharray="5,3"';
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    parts.push(`<rect x="${x1 + 10}" y="${y0 + 4 + i * 14}" width="10" height="3" fill="${color}"/>`);
    parts.push(`<text x="${x1 + 24}" y="${y0 + 9 + i * 14}" font-size="10">${esc(s.t.label)}</text>`);
  });
  parts.push(
    `<text x="${x0}" y="${H - 12}" fill="#555">mcp-tether in red / solid lines; references in blue / dashed; raw node:http in grey. Generated by bench/report.ts from ${esc(r.startedAt)}.</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export function resultsMarkdown(r: BenchResults, file: string): string {
  const m = r.machine;
  const v = r.versions;
  return [
    START,
    '',
    `_Generated by \`npm run bench\`${r.quick ? ' (BENCH_QUICK=1 smoke run — not for comparison)' : ''} on ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${fmt(r.durationS / 60, 1)} min, ${r.reps} repetition${r.reps === 1 ? '' : 's'} interleaved across servers. Raw results: \`${file.replace(`${REPO}/`, '')}\` (not committed). Medians, with min–max across repetitions in brackets._`,
    '',
    `**Machine.** ${m.cpuModel}, ${m.cpus} cores, ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}. Server pinned to CPU ${m.serverCpu}, clients to CPU ${m.clientCpu} (${m.pinned ? 'taskset' : 'not pinned: no taskset or one core'}). Open files: ${m.nofile}. 1-minute load average ${m.loadBefore.toFixed(2)} before, ${m.loadAfter.toFixed(2)} after${m.quiet ? '' : ' — **the machine was not quiet** (other work running); figures are noisier and lower than on an idle machine, ratios within a repetition still compare like with like'}${m.quietWaitS > 0 ? ` (waited ${fmt(m.quietWaitS / 60, 1)} min for quiet)` : ''}.`,
    '',
    `**Versions.** mcp-tether ${r.tether.version} @ ${r.tether.commit}${r.tether.dirtyFiles ? ` + ${r.tether.dirtyFiles} uncommitted file(s) in src/` : ''}; @modelcontextprotocol/sdk ${v['@modelcontextprotocol/sdk']}; @modelcontextprotocol/server ${v['@modelcontextprotocol/server']}; @modelcontextprotocol/node ${v['@modelcontextprotocol/node']}; fastmcp ${v.fastmcp} (mcp-proxy ${v['mcp-proxy']}).`,
    '',
    '### Targets',
    '',
    checksTable(r),
    '',
    `### 1. tools/call throughput and latency (${r.settings.throughput.durationMs / 1000} s after ${r.settings.throughput.warmupMs / 1000} s warm-up, every reply checked)`,
    '',
    throughputTables(r),
    ...(r.baseline === undefined
      ? []
      : ['#### Against the base checkout (BENCH_BASELINE)\n', baselineTable(r), '']),
    '### 2. Idle streams (RSS after a full GC; per stream = (RSS − RSS before the first stream) ÷ streams)',
    '',
    streamTables(r),
    '',
    '### 5. Fan-out: one tools/list_changed to every open stream (server call → each client receipt)',
    '',
    fanoutTable(r),
    '',
    '### 3. Disconnect: client gone → server releases the stream',
    '',
    disconnectTables(r),
    '',
    '### 4. Keepalive cost (server CPU over consecutive windows)',
    '',
    keepaliveTable(r),
    '',
    r.errors.length > 0 ? `**Errors during the run:**\n\n${r.errors.map((e) => `- ${e}`).join('\n')}\n` : '',
    '![RSS vs streams and throughput per server](bench/results/chart.svg)',
    '',
    END,
  ].join('\n');
}

/** Writes BENCHMARKS.md (the generated part only) and the chart. */
export function writeReport(r: BenchResults, file: string): void {
  writeFileSync(`${REPO}/bench/results/chart.svg`, chartSvg(r));
  const path = `${REPO}/BENCHMARKS.md`;
  const generated = resultsMarkdown(r, file);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : `# Benchmarks\n\n${START}\n${END}\n`;
  const a = current.indexOf(START);
  const b = current.indexOf(END);
  const next =
    a === -1 || b === -1
      ? `${current}\n${generated}\n`
      : `${current.slice(0, a)}${generated}${current.slice(b + END.length)}`;
  writeFileSync(path, next);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node --import tsx bench/report.ts <results file>');
  writeReport(JSON.parse(readFileSync(file, 'utf8')) as BenchResults, file);
}
