import { performance } from 'node:perf_hooks';
import { cpuMs, sleep } from '../lib/proc.js';
import { type ServerName, startServer } from '../lib/servers.js';
import { StreamsClient } from '../lib/streams-client.js';
import type { StreamKind } from '../streams.js';

/** Idle streams whose keepalive cost is measured. */
export interface KeepaliveTarget {
  id: string;
  label: string;
  server: ServerName;
  kind: StreamKind;
  intervalMs: number;
}

export const KEEPALIVE_TARGETS: KeepaliveTarget[] = [
  {
    id: 'tether-listen-15s',
    label: 'mcp-tether, listen streams (`: ping` comments), 15 s',
    server: 'tether',
    kind: 'listen',
    intervalMs: 15_000,
  },
  {
    id: 'tether-listen-1s',
    label: 'mcp-tether, listen streams (`: ping` comments), 1 s',
    server: 'tether',
    kind: 'listen',
    intervalMs: 1_000,
  },
  {
    id: 'tether-get-15s',
    label: 'mcp-tether, 2025 GET streams (JSON-RPC liveness pings, answered), 15 s',
    server: 'tether',
    kind: 'session-get',
    intervalMs: 15_000,
  },
  {
    id: 'tether-get-1s',
    label: 'mcp-tether, 2025 GET streams (JSON-RPC liveness pings, answered), 1 s',
    server: 'tether',
    kind: 'session-get',
    intervalMs: 1_000,
  },
];

export interface KeepaliveWindow {
  seconds: number;
  serverCpuPercent: number;
  /** Keepalives the client saw in the window, per second. */
  pingsPerSecond: number;
  streamsOpen: number;
}

export interface KeepaliveRun {
  streams: number;
  windows: KeepaliveWindow[];
}

/**
 * Opens `streams` idle streams on a server whose keepalive interval is the
 * target's, then reads the server's CPU time (/proc utime+stime) over
 * `windows` consecutive windows of `windowMs`.
 */
export async function keepaliveRun(
  target: KeepaliveTarget,
  streams: number,
  windows: number,
  windowMs: number,
): Promise<KeepaliveRun> {
  const server = await startServer(target.server, { BENCH_PING_INTERVAL_MS: String(target.intervalMs) });
  const client = new StreamsClient(target.kind, server.port);
  try {
    const opened = await client.open(streams);
    await sleep(1_000);
    const out: KeepaliveWindow[] = [];
    type Stats = { open: number; pingsSeen: number };
    let before = await client.command<Stats>({ cmd: 'stats' }, 'stats');
    for (let i = 0; i < windows; i++) {
      const c0 = cpuMs(server.pid);
      const t0 = performance.now();
      await sleep(windowMs);
      const c1 = cpuMs(server.pid);
      const t1 = performance.now();
      const after = await client.command<Stats>({ cmd: 'stats' }, 'stats');
      out.push({
        seconds: (t1 - t0) / 1000,
        serverCpuPercent: ((c1 - c0) / (t1 - t0)) * 100,
        pingsPerSecond: ((after.pingsSeen - before.pingsSeen) * 1000) / (t1 - t0),
        streamsOpen: after.open,
      });
      before = after;
    }
    return { streams: opened.total, windows: out };
  } finally {
    await client.close();
    await server.stop();
  }
}
