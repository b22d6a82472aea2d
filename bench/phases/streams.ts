import { control, type ServerName, startServer, stats } from '../lib/servers.js';
import { StreamsClient } from '../lib/streams-client.js';
import type { StreamKind } from '../streams.js';

/** One kind of idle stream on one server. */
export interface StreamTarget {
  id: string;
  label: string;
  server: ServerName;
  kind: StreamKind;
  /** Whether the server can push a list-changed notification to these streams (fan-out). */
  fanout: boolean;
  /** Largest count opened (default: every count); keeps a run within its time budget. */
  maxCount?: number;
  /**
   * Whether the server settles idle sessions (hibernation) after every
   * {@link SETTLE_CHUNK} opened, as a server whose sessions arrive over time
   * does: memory then is what idle sessions cost in the steady state.
   */
  settles?: boolean;
}

export const STREAM_TARGETS: StreamTarget[] = [
  { id: 'raw', label: 'raw node:http SSE (no MCP)', server: 'raw', kind: 'raw', fanout: true },
  {
    id: 'tether',
    label: 'mcp-tether, 2025-11-25 session + GET stream',
    server: 'tether',
    kind: 'session-get',
    fanout: true,
  },
  {
    id: 'tether-used',
    label:
      'mcp-tether, 2025-11-25 session + GET stream after a tools/list, server kept (used within --hibernate-after)',
    server: 'tether',
    kind: 'session-get-used',
    fanout: false,
  },
  {
    id: 'tether-hibernated',
    label: 'mcp-tether, 2025-11-25 session + GET stream after a tools/list, idle past --hibernate-after',
    server: 'tether',
    kind: 'session-get-used',
    fanout: false,
    settles: true,
  },
  {
    id: 'tether-listen',
    label: 'mcp-tether, 2026-07-28 subscriptions/listen',
    server: 'tether',
    kind: 'listen',
    fanout: true,
  },
  {
    id: 'tether-legacy',
    label: 'mcp-tether, legacy HTTP+SSE (GET /sse)',
    server: 'tether',
    kind: 'http-sse',
    fanout: false,
    maxCount: 1_000,
  },
  {
    id: 'tether-seed',
    label: 'mcp-tether, seed endpoint (POST /mcp/sse)',
    server: 'tether',
    kind: 'seed',
    fanout: false,
    maxCount: 1_000,
  },
  {
    id: 'sdk1',
    label: 'SDK 1.x Streamable HTTP, session + GET stream',
    server: 'sdk1',
    kind: 'session-get',
    fanout: true,
  },
  {
    id: 'sdk1-legacy',
    label: 'SDK 1.x SSEServerTransport',
    server: 'sdk1',
    kind: 'http-sse',
    fanout: true,
    maxCount: 1_000,
  },
  {
    id: 'sdk2',
    label: 'SDK v2 createMcpHandler, subscriptions/listen',
    server: 'sdk2',
    kind: 'listen',
    fanout: true,
  },
  {
    id: 'fastmcp',
    label: 'fastmcp httpStream, session + GET stream',
    server: 'fastmcp',
    kind: 'session-get',
    fanout: true,
    maxCount: 1_000,
  },
];

/** Memory and opening at one stream count. */
/** Streams opened between two settles of a {@link StreamTarget.settles} target. */
const SETTLE_CHUNK = 500;

export interface StreamStage {
  target: number;
  opened: number;
  failures: number;
  errorSamples: string[];
  /** Openings per second for this stage's batch (sessions/s, initialize included). */
  openRate: number;
  openTimedOut: boolean;
  rssBytes: number;
  heapUsedBytes: number;
  /** V8 heap committed (used or not) per stream: what RSS holds for the heap. */
  heapTotalPerStreamBytes?: number;
  externalPerStreamBytes?: number;
  /** (RSS here − RSS before any stream) / streams. */
  rssPerStreamBytes: number;
  heapPerStreamBytes: number;
}

export interface FanoutSample {
  streams: number;
  received: number;
  /** From the notify call to the first / median / last stream's receipt, ms. */
  firstMs: number;
  p50Ms: number;
  lastMs: number;
  /** How long the server-side notify call took, ms. */
  serverCallMs: number;
}

export interface StreamsRep {
  baselineRssBytes: number;
  stages: StreamStage[];
  fanout?: FanoutSample;
}

export interface StreamsSettings {
  counts: number[];
  /** Stop opening a stage after this long (the rest counts as not opened). */
  stageTimeoutMs: number;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor(s.length / 2)] as number);
}

/**
 * One repetition: a fresh server, one warm-up session, then streams opened
 * up to each count in turn; RSS (after a full GC) at each; then one
 * list-changed notification timed to every stream (fan-out).
 */
export async function streamsRep(target: StreamTarget, settings: StreamsSettings): Promise<StreamsRep> {
  const server = await startServer(target.server);
  const client = new StreamsClient(target.kind, server.port);
  try {
    // Warm the code paths with a few streams so the baseline includes loaded code, then release them.
    const warm = new StreamsClient(target.kind, server.port);
    await warm.open(20);
    await warm.close();
    await new Promise((r) => setTimeout(r, 500));
    const base = await stats(server);
    const stages: StreamStage[] = [];
    let have = 0;
    for (const count of settings.counts.filter(
      (c) => c <= (target.maxCount ?? c) || c === settings.counts[0],
    )) {
      const batch = count - have;
      const opened = { total: have, failures: 0, ms: 0, errorSamples: [] as string[], timedOut: false };
      for (let left = batch; left > 0; ) {
        const chunk = target.settles ? Math.min(SETTLE_CHUNK, left) : left;
        const part = await client.command<{
          total: number;
          failures: number;
          ms: number;
          errorSamples: string[];
          timedOut?: boolean;
        }>(
          { cmd: 'open', count: chunk, timeoutMs: settings.stageTimeoutMs },
          'opened',
          settings.stageTimeoutMs + 60_000,
        );
        opened.total = part.total;
        opened.failures += part.failures;
        opened.ms += part.ms;
        opened.errorSamples.push(...part.errorSamples.slice(0, 3));
        if (target.settles) await control(server, 'settle', 'POST');
        if (part.timedOut) {
          opened.timedOut = true;
          break;
        }
        left -= chunk;
      }
      const now = await stats(server);
      const added = opened.total - have;
      have = opened.total;
      stages.push({
        target: count,
        opened: opened.total,
        failures: opened.failures,
        errorSamples: opened.errorSamples,
        openRate: (added / opened.ms) * 1000,
        openTimedOut: opened.timedOut === true,
        rssBytes: now.rssBytes,
        heapUsedBytes: now.heapUsedBytes,
        rssPerStreamBytes: (now.rssBytes - base.rssBytes) / Math.max(1, opened.total),
        heapPerStreamBytes: (now.heapUsedBytes - base.heapUsedBytes) / Math.max(1, opened.total),
        heapTotalPerStreamBytes: (now.heapTotalBytes - base.heapTotalBytes) / Math.max(1, opened.total),
        externalPerStreamBytes: (now.externalBytes - base.externalBytes) / Math.max(1, opened.total),
      });
      if (opened.total < count) break;
    }
    let fanout: FanoutSample | undefined;
    if (target.fanout && have > 0) {
      const call = await control<{ startUs: number; doneUs: number }>(server, 'notify', 'POST');
      const seen = await client.command<{ expected: number; received: number; times: number[] }>(
        { cmd: 'fanout', timeoutMs: 15_000 },
        'fanout',
        30_000,
      );
      const deltas = seen.times.map((t) => (t - call.startUs) / 1000).sort((a, b) => a - b);
      fanout = {
        streams: seen.expected,
        received: seen.received,
        firstMs: deltas[0] ?? Number.NaN,
        p50Ms: median(deltas),
        lastMs: deltas.at(-1) ?? Number.NaN,
        serverCallMs: (call.doneUs - call.startUs) / 1000,
      };
    }
    return {
      baselineRssBytes: base.rssBytes,
      stages,
      ...(fanout ? { fanout } : {}),
    };
  } finally {
    await client.close();
    await server.stop();
  }
}
