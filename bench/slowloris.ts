/**
 * Bounded slowloris probe: opens N sockets to a server on 127.0.0.1, each
 * sending one header byte per second and never finishing its headers, plus N
 * idle sockets that send nothing; reports how long the server took to drop
 * them. Stops after `--limit-s` whatever happens.
 *
 *   node --import tsx bench/slowloris.ts --port 8000 --sockets 50 --limit-s 120
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8000' },
    sockets: { type: 'string', default: '50' },
    'limit-s': { type: 'string', default: '120' },
  },
});
const port = Number(values.port);
const count = Math.min(Number(values.sockets), 1_000);
const limitMs = Math.min(Number(values['limit-s']), 600) * 1_000;

interface Probe {
  socket: Socket;
  closedAfterMs?: number;
}

function open(slow: boolean, startedAt: number): Probe {
  const socket = connect(port, '127.0.0.1');
  const probe: Probe = { socket };
  const header = 'GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ';
  let sent = 0;
  const timer = slow
    ? setInterval(() => {
        socket.write(header[sent] ?? 'a');
        sent++;
      }, 1_000)
    : undefined;
  socket.on('error', () => {});
  socket.on('close', () => {
    clearInterval(timer);
    probe.closedAfterMs = Date.now() - startedAt;
  });
  return probe;
}

function summary(name: string, probes: Probe[]): string {
  const closed = probes.map((p) => p.closedAfterMs).filter((t): t is number => t !== undefined);
  closed.sort((a, b) => a - b);
  const at = (q: number) => closed[Math.min(closed.length - 1, Math.floor(q * closed.length))];
  return closed.length === 0
    ? `${name}: 0/${probes.length} dropped`
    : `${name}: ${closed.length}/${probes.length} dropped, first ${at(0)} ms, median ${at(0.5)} ms, last ${at(1)} ms`;
}

const startedAt = Date.now();
const slow = Array.from({ length: count }, () => open(true, startedAt));
const idle = Array.from({ length: count }, () => open(false, startedAt));
const all = [...slow, ...idle];
while (Date.now() - startedAt < limitMs && all.some((p) => p.closedAfterMs === undefined)) {
  await new Promise((r) => setTimeout(r, 200));
}
process.stdout.write(
  `${summary('slowloris (1 header byte/s)', slow)}\n${summary('idle (no bytes)', idle)}\n`,
);
for (const p of all) p.socket.destroy();
