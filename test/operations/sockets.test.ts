import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { startTether, type TestTether } from '../support/tether.js';

/** A raw socket on the test server with what it received and when it closed. */
interface Probe {
  socket: Socket;
  received: () => string;
  closedAt: () => number | undefined;
  connected: Promise<void>;
}

function probe(url: string): Probe {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  let text = '';
  let closedAt: number | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closedAt = Date.now();
  });
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, received: () => text, closedAt: () => closedAt, connected };
}

let t: TestTether | undefined;
const probes: Probe[] = [];
afterEach(async () => {
  for (const p of probes.splice(0)) p.socket.destroy();
  await t?.close();
  t = undefined;
});

function track(p: Probe): Probe {
  probes.push(p);
  return p;
}

/** An HTTP+SSE stream on a raw probe socket, once its endpoint event arrived. */
async function openSseStream(url: string) {
  const stream = track(probe(url));
  await stream.connected;
  stream.socket.write('GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
  await waitFor(() => stream.received().includes('event: endpoint'), 3_000, 'the HTTP+SSE stream');
  return stream;
}

describe('socket limits of listen()', () => {
  it('closes a socket that never sends a byte within headersTimeoutMs', async () => {
    t = await startTether({ headersTimeoutMs: 300, logLevel: 'silent' });
    const started = Date.now();
    const idle = track(probe(t.url));
    await idle.connected;
    await waitFor(() => idle.closedAt() !== undefined, 3_000, 'the idle socket to close');
    const heldMs = (idle.closedAt() ?? 0) - started;
    expect(heldMs).toBeGreaterThanOrEqual(250);
    expect(heldMs).toBeLessThan(1_500);
  });

  it('closes a slowloris socket (a header byte every 50 ms) within headersTimeoutMs', async () => {
    t = await startTether({ headersTimeoutMs: 400, logLevel: 'silent' });
    const slow = track(probe(t.url));
    await slow.connected;
    const started = Date.now();
    const header = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ';
    let sent = 0;
    const timer = setInterval(() => {
      if (!slow.socket.destroyed) slow.socket.write(header[sent] ?? 'a');
      sent++;
    }, 50);
    try {
      await waitFor(() => slow.closedAt() !== undefined, 4_000, 'the slowloris socket to close');
    } finally {
      clearInterval(timer);
    }
    expect((slow.closedAt() ?? 0) - started).toBeLessThan(2_000);
  });

  it('answers 408 to a body that trickles past requestTimeoutMs', async () => {
    t = await startTether({ headersTimeoutMs: 300, requestTimeoutMs: 600, logLevel: 'silent' });
    const slow = track(probe(t.url));
    await slow.connected;
    slow.socket.write(
      'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{',
    );
    await waitFor(() => slow.closedAt() !== undefined, 4_000, 'the slow body to be cut');
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408/);
  });

  it('keeps an SSE stream open past both timeouts (requestTimeout stops once the request is in)', async () => {
    t = await startTether({
      headersTimeoutMs: 200,
      requestTimeoutMs: 300,
      pingIntervalMs: 100,
      maxPingFailures: 100,
      logLevel: 'silent',
    });
    const stream = await openSseStream(t.url);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(stream.closedAt()).toBeUndefined();
    const before = stream.received().length;
    await waitFor(() => stream.received().length > before, 2_000, 'a keepalive after the timeouts');
  });

  it('closes sockets past maxSockets while an open stream keeps working', async () => {
    t = await startTether({
      maxSockets: 3,
      headersTimeoutMs: 10_000,
      pingIntervalMs: 100,
      maxPingFailures: 100,
      logLevel: 'warn',
    });
    const stream = await openSseStream(t.url);
    const fillers = [track(probe(t.url)), track(probe(t.url))];
    await Promise.all(fillers.map((p) => p.connected));
    const excess = track(probe(t.url));
    await waitFor(() => excess.closedAt() !== undefined, 2_000, 'the excess socket to be closed');
    expect(excess.received()).toBe('');
    expect(fillers.every((p) => p.closedAt() === undefined)).toBe(true);
    expect(t.logsOf('server.socket_cap_reached')).toHaveLength(1);

    const before = stream.received().length;
    await waitFor(() => stream.received().length > before, 2_000, 'the stream to keep receiving');
    expect(stream.closedAt()).toBeUndefined();

    for (const p of fillers) p.socket.destroy();
    await waitFor(() => fillers.every((p) => p.closedAt() !== undefined), 1_000, 'fillers closed');
    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
  });
});
