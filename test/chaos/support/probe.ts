import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ConnectionView } from '../../../src/http/admin.js';
import { messagesOfBody, modernRequest, sessionHeaders, toolCall } from '../../support/rpc.js';
import { fetchText, type OpenStreamOptions } from '../../support/sse.js';
import type { DebugMemory } from '../fixtures/chaos-tools.js';
import { ADMIN_TOKEN, type ChaosServer } from './server.js';

/** A whole HTTP response. */
export type Answer = Awaited<ReturnType<typeof fetchText>>;

/**
 * One request on its own socket, closed after the answer, so probes never
 * leave a keep-alive socket on the server that would count as a leak.
 */
export function http(url: string, options: OpenStreamOptions = {}): Promise<Answer> {
  return fetchText(url, { ...options, headers: { connection: 'close', ...options.headers } });
}

/** The server's Prometheus metrics as `name{labels}` → value. */
export async function metrics(server: ChaosServer): Promise<Map<string, number>> {
  const { text } = await http(`${server.url}/metrics`);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** Sum of every series of `name` whose labels contain `labelText` (e.g. `transport="seed-sse"`). */
export function metric(all: Map<string, number>, name: string, labelText = ''): number {
  let sum = 0;
  for (const [key, value] of all) {
    const brace = key.indexOf('{');
    const base = brace === -1 ? key : key.slice(0, brace);
    if (base === name && key.includes(labelText)) sum += value;
  }
  return sum;
}

/** `GET /mcp/connections` with the admin token. */
export async function liveConnections(server: ChaosServer): Promise<ConnectionView[]> {
  const answer = await http(`${server.url}/mcp/connections`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  if (answer.status !== 200) throw new Error(`admin API answered ${answer.status}: ${answer.text}`);
  return (JSON.parse(answer.text) as { connections: ConnectionView[] }).connections;
}

/** `DELETE /mcp/connections/:id` with the admin token. */
export function closeConnection(server: ChaosServer, id: string): Promise<Answer> {
  return http(`${server.url}/mcp/connections/${encodeURIComponent(id)}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
}

/** Calls a tool over a stateless 2026-07-28 request and returns its text content. */
export async function callTool(server: ChaosServer, name: string, args: Record<string, unknown>) {
  const request = modernRequest(
    1,
    'tools/call',
    { name, arguments: args },
    { clientInfo: { name: 'chaos-probe', version: '1' } },
  );
  const answer = await http(`${server.url}/mcp`, request);
  if (answer.status !== 200) throw new Error(`tools/call ${name} answered ${answer.status}: ${answer.text}`);
  const [message] = messagesOfBody(answer.headers['content-type'], answer.text);
  return (message?.result as { content?: Array<{ text?: string }> } | undefined)?.content?.[0]?.text ?? '';
}

/**
 * Waits until the test has read every log line the server wrote so far: the
 * server writes a marker after them (stdout is one ordered pipe) and the test
 * waits for it. Use before reading `server.logs` after an event seen elsewhere.
 */
export async function syncLogs(server: ChaosServer): Promise<void> {
  const id = `mark-${process.hrtime.bigint()}`;
  await callTool(server, 'debug_mark', { id });
  await server.waitForLog((l) => l.msg === 'chaos.mark' && l.id === id, 5_000, `log marker ${id}`);
}

/** Runs the GC in the server and returns its memory, handles, timers and listeners. */
export async function debugMemory(server: ChaosServer): Promise<DebugMemory> {
  return JSON.parse(await callTool(server, 'debug_memory', { gc: true })) as DebugMemory;
}

/** TCP sockets the process holds on `port` (its listener and every accepted connection). */
export function tcpSockets(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) inodes.add(m[1]!);
    } catch {
      // the fd closed while we looked
    }
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const row of text.split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols.length < 10) continue;
      const local = cols[1]!;
      if (local.endsWith(`:${hexPort}`) && inodes.has(cols[9]!)) count++;
    }
  }
  return count;
}

/** Resident set size and its peak (VmHWM) of a process, in MiB. */
export function rssMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** The 2025-era session answers: status of a tools/call POST with its id (404 once it is gone). */
export async function sessionStatus(server: ChaosServer, sessionId: string): Promise<number> {
  const answer = await http(`${server.url}/mcp`, {
    headers: sessionHeaders(sessionId),
    body: toolCall('probe', 'echo', { text: 'x' }),
  });
  return answer.status;
}

/** What is left compared with a baseline taken before the clients came. */
export interface Leftovers {
  connections: number;
  sessions: number;
  /** TCP sockets on the server port above the baseline. */
  sockets: number;
  /** Timers made through the globals above the baseline. */
  timers: number;
  /** Active libuv handles above the baseline. */
  handles: number;
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** Waits (up to `settleMs`) until the server holds no more than `target` TCP sockets on its port. */
async function settleSockets(server: ChaosServer, target: number, settleMs: number): Promise<number> {
  const deadline = Date.now() + settleMs;
  let sockets = tcpSockets(server.pid, server.port);
  while (sockets > target && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    sockets = tcpSockets(server.pid, server.port);
  }
  return sockets;
}

/** A server's resting state: only its listening socket, and what `debug_memory` reports. */
export interface Baseline {
  sockets: number;
  memory: DebugMemory;
}

/** Takes a {@link Baseline} once the probes' own sockets have gone. */
export async function baseline(server: ChaosServer): Promise<Baseline> {
  await settleSockets(server, 1, 2_000);
  const memory = await debugMemory(server);
  return { sockets: await settleSockets(server, 1, 2_000), memory };
}

/**
 * Measures what the server still holds against `base`. Sockets are given a
 * moment to settle: a probe's own `Connection: close` socket may outlive its
 * response by a tick.
 */
export async function leftovers(server: ChaosServer, base: Baseline, settleMs = 2_000): Promise<Leftovers> {
  const connections = (await liveConnections(server)).length;
  const sessions = metric(await metrics(server), 'mcp_tether_sessions_active');
  const sockets = await settleSockets(server, base.sockets, settleMs);
  const after = await debugMemory(server);
  return {
    connections,
    sessions,
    sockets: sockets - base.sockets,
    timers: after.timers.live - base.memory.timers.live,
    handles: total(after.handles) - total(base.memory.handles),
  };
}
