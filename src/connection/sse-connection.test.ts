import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LoopbackStreams, startLoopbackStreams } from '../../test/lifecycle/support/loopback.js';
import type { CloseReason } from './close-reason.js';
import { randomId } from './ids.js';

const RETRY_MS = 2_500;

describe('SseConnection', () => {
  let h: LoopbackStreams;

  beforeEach(async () => {
    h = await startLoopbackStreams(RETRY_MS);
  });

  afterEach(async () => {
    await h.close();
  });

  it('notices a client that goes away: one close, reason client_disconnect, signal aborted', async () => {
    const closed: CloseReason[] = [];
    h.registry.listen({ closed: (_c, reason) => closed.push(reason) });
    const s = await h.openReading();
    const aborted = once(s.connection.signal, 'abort');

    s.destroy();
    await aborted;

    expect(s.connection.closeReason).toBe('client_disconnect');
    expect(s.connection.signal.reason).toBe('client_disconnect');
    expect(h.registry.size).toBe(0);
    expect(closed).toEqual(['client_disconnect']);
    expect(h.logsOf('connection.closed')).toHaveLength(1);
    expect(s.connection.write('data: late\n\n')).toBe(false);
  });

  it('calls close listeners once with the reason, at once when already closed, not after removal', async () => {
    const s = await h.openReading();
    const heard: string[] = [];
    s.connection.onClose((reason) => heard.push(`a ${reason}`));
    const stop = s.connection.onClose((reason) => heard.push(`b ${reason}`));
    stop();

    s.connection.close('manual');
    s.connection.close('shutdown');
    s.connection.onClose((reason) => heard.push(`late ${reason}`));

    expect(heard).toEqual(['a manual', 'late manual']);
    // A signal first read after the close is already aborted with the reason.
    expect(s.connection.signal.aborted).toBe(true);
    expect(s.connection.signal.reason).toBe('manual');
  });

  it('ends a server-initiated close with a `retry:` hint and keeps the first reason only', async () => {
    const s = await h.openReading();
    s.connection.write('data: one\n\n');

    s.connection.close('manual');
    s.connection.close('error');
    s.connection.close('client_disconnect');

    expect(await s.ended).toBe('end');
    expect(s.text()).toBe(`data: one\n\nretry: ${RETRY_MS}\n\n`);
    expect(s.connection.closeReason).toBe('manual');
    expect(s.connection.signal.reason).toBe('manual');
    expect(h.logsOf('connection.closed').map((l) => l.reason)).toEqual(['manual']);
    // The socket's own close event, which follows end(), must not log a second reason.
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.logsOf('connection.closed')).toHaveLength(1);
  });

  it('writes the final frame the transport asks for instead of the default hint', async () => {
    const s = await h.openReading({
      finalFrame: (reason) => `event: close\ndata: {"reason":"${reason}"}\nretry: 10\n\n`,
    });

    s.connection.close('shutdown');

    expect(await s.ended).toBe('end');
    expect(s.text()).toBe('event: close\ndata: {"reason":"shutdown"}\nretry: 10\n\n');
  });

  it('writes no final frame for a completed stream', async () => {
    const s = await h.openReading();
    s.connection.write('data: result\n\n');

    s.connection.close('completed');

    expect(await s.ended).toBe('end');
    expect(s.text()).toBe('data: result\n\n');
    expect(h.logsOf('connection.closed')[0]).toMatchObject({ reason: 'completed', bytes_written: 14 });
  });

  it('never splices a final frame into a half-written frame', async () => {
    const s = await h.openReading();
    s.connection.write('data: half');
    s.connection.atFrameBoundary = false;

    s.connection.close('shutdown');

    expect(await s.ended).toBe('end');
    expect(s.text()).toBe('data: half');
  });

  it('counts the bytes it writes, strings and binary alike', async () => {
    const s = await h.openReading();
    s.connection.write('data: é\n\n'); // é is two bytes
    s.connection.write(new TextEncoder().encode('data: b\n\n'));
    await s.until((t) => t.endsWith('data: b\n\n'));

    expect(s.connection.bytesWritten).toBe(10 + 9);
    s.connection.close('manual');
    expect(h.logsOf('connection.closed')[0]).toMatchObject({
      reason: 'manual',
      bytes_written: 19,
      transport: 'streamable-http',
      stream: 'standalone',
      client_ip: '127.0.0.1',
    });
  });

  it('releases a writer waiting on a backed-up socket when the client goes away', async () => {
    const s = await h.openStalled();
    s.connection.write(`data: ${'x'.repeat(16 * 1024 * 1024)}\n\n`);
    expect(s.connection.bufferedBytes).toBeGreaterThan(0);
    const drained = s.connection.whenDrained();

    s.destroy();
    await drained;

    expect(s.connection.closeReason).toBe('client_disconnect');
    expect(h.registry.size).toBe(0);
  });

  it('keeps a gracefully closed stream counted until its backlog is gone, then destroys it after the grace', async () => {
    const s = await h.openStalled();
    s.connection.write(`data: ${'x'.repeat(16 * 1024 * 1024)}\n\n`);
    expect(s.connection.bufferedBytes).toBeGreaterThan(0);

    s.connection.close('max_age');
    // Closed for every caller, logged once; still counted by the caps while it holds its backlog.
    expect(s.connection.closed).toBe(true);
    expect(h.logsOf('connection.closed').map((l) => l.reason)).toEqual(['max_age']);
    expect(h.registry.size).toBe(1);
    expect(h.registry.countByClient(s.connection.clientIp)).toBe(1);

    // The close itself bounds how long the unread backlog may keep the socket.
    await once(s.serverSocket, 'close');
    expect(s.serverSocket.destroyed).toBe(true);
    expect(h.registry.size).toBe(0);
    expect(h.registry.countByClient(s.connection.clientIp)).toBe(0);
    expect(h.logsOf('connection.closed')).toHaveLength(1);
  });

  it('leaves the registry once a closed stream has flushed its last bytes', async () => {
    const s = await h.openReading();
    s.connection.write('data: last\n\n');
    s.connection.close('completed');

    expect(await s.ended).toBe('end');
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.registry.size).toBe(0);
  });

  it('closes a stream as slow_consumer, socket destroyed, when a write would pass the byte cap', async () => {
    const s = await h.openStalled();
    // One frame larger than the cap goes out when nothing is buffered: a reading client gets it.
    expect(s.connection.write(`data: ${'x'.repeat(h.registry.maxBufferedBytes + 1024)}\n\n`)).toBe(false);
    expect(s.connection.closed).toBe(false);

    expect(s.connection.write('data: one more\n\n')).toBe(false);

    expect(s.connection.closeReason).toBe('slow_consumer');
    expect(s.res.destroyed).toBe(true);
    expect(h.registry.size).toBe(0);
    expect(h.logsOf('connection.buffer_cap_reached')).toHaveLength(1);
    expect(h.logsOf('connection.closed').map((l) => l.reason)).toEqual(['slow_consumer']);
  });

  it('counts bytes a caller queues for the stream against the cap', async () => {
    const s = await h.openStalled();
    expect(s.connection.admitQueued(h.registry.maxBufferedBytes)).toBe(true);
    s.connection.write(`data: ${'x'.repeat(16 * 1024 * 1024)}\n\n`);

    expect(s.connection.admitQueued(1)).toBe(false);

    expect(s.connection.closeReason).toBe('slow_consumer');
    expect(h.registry.size).toBe(0);
  });
});

describe('randomId', () => {
  it('gives 128-bit base64url ids, never the same one, across refills of its pool', () => {
    const ids = Array.from({ length: 1_000 }, () => randomId('s-'));
    for (const id of ids) expect(id).toMatch(/^s-[A-Za-z0-9_-]{22}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
