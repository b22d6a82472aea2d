import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LoopbackStreams, startLoopbackStreams } from '../../test/lifecycle/support/loopback.js';

describe('ConnectionRegistry', () => {
  let h: LoopbackStreams;

  beforeEach(async () => {
    h = await startLoopbackStreams();
  });

  afterEach(async () => {
    await h.close();
  });

  it('tells listeners about every open and close once, until they unsubscribe', async () => {
    const events: string[] = [];
    const stop = h.registry.listen({
      opened: (c) => events.push(`opened ${c.kind}`),
      closed: (c, reason) => events.push(`closed ${c.kind} ${reason}`),
    });
    const a = await h.openReading({ kind: 'response' });
    a.connection.close('completed');
    a.connection.close('manual');
    stop();
    const b = await h.openReading();
    b.connection.close('manual');

    expect(events).toEqual(['opened response', 'closed response completed']);
    expect(h.logsOf('connection.opened')).toHaveLength(2);
    expect(h.logsOf('connection.closed').map((l) => l.reason)).toEqual(['completed', 'manual']);
  });

  it('counts streams by transport and looks them up by id', async () => {
    const a = await h.openReading({ transport: 'http-sse', kind: 'session' });
    await h.openReading();
    await h.openReading();

    expect(h.registry.size).toBe(3);
    expect(h.registry.countBy('http-sse')).toBe(1);
    expect(h.registry.countBy('streamable-http')).toBe(2);
    expect(h.registry.countBy('seed-sse')).toBe(0);
    expect(h.registry.get(a.connection.id)).toBe(a.connection);
  });

  it('closeAll closes every stream with the one reason given', async () => {
    const streams = await Promise.all([h.openReading(), h.openReading(), h.openReading()]);

    h.registry.closeAll('shutdown');

    expect(h.registry.size).toBe(0);
    for (const s of streams) {
      expect(s.connection.closeReason).toBe('shutdown');
      expect(await s.ended).toBe('end');
      expect(s.text()).toBe('retry: 1000\n\n');
    }
    const closed = h.logsOf('connection.closed');
    expect(closed.map((l) => l.reason)).toEqual(['shutdown', 'shutdown', 'shutdown']);
    expect(new Set(closed.map((l) => l.connection_id)).size).toBe(3);
  });

  it('logs closes that signal trouble at warn level and the rest at info', async () => {
    const slow = await h.openReading();
    const done = await h.openReading();
    slow.connection.close('slow_consumer');
    done.connection.close('completed');

    const closed = h.logsOf('connection.closed');
    expect(closed.map((l) => [l.reason, l.level])).toEqual([
      ['slow_consumer', 40],
      ['completed', 30],
    ]);
  });

  it("logs a request's own response stream at debug unless it ends abnormally", async () => {
    const answered = await h.openReading({ kind: 'response' });
    const cut = await h.openReading({ kind: 'response' });
    answered.connection.close('completed');
    cut.connection.close('shutdown');

    expect(h.logsOf('connection.opened').map((l) => l.level)).toEqual([20, 20]);
    expect(h.logsOf('connection.closed').map((l) => [l.reason, l.level])).toEqual([
      ['completed', 20],
      ['shutdown', 30],
    ]);
  });
});
