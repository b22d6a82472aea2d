import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { EventsEvictedError, type EventTooLarge, MemoryEventStore } from './event-store.js';

/** A notification whose serialized size is exactly `bytes`. */
function messageOf(bytes: number): JSONRPCMessage {
  const empty = JSON.stringify({ jsonrpc: '2.0', method: 'x', params: { text: '' } }).length;
  return { jsonrpc: '2.0', method: 'x', params: { text: 'a'.repeat(bytes - empty) } } as JSONRPCMessage;
}

describe('MemoryEventStore', () => {
  it('replays the events after an id, oldest first', async () => {
    const store = new MemoryEventStore(10);
    const a = await store.append('s', messageOf(100));
    const b = await store.append('s', messageOf(100));

    expect((await store.eventsAfter(store.primingId('s')))?.map((e) => e.eventId)).toEqual([a, b]);
    expect((await store.eventsAfter(a))?.map((e) => e.eventId)).toEqual([b]);
    expect(await store.eventsAfter('no-dot')).toBeUndefined();
  });

  it("evicts a session's oldest events, across its streams, past its byte budget", async () => {
    const store = new MemoryEventStore(10, { maxEventBytesPerSession: 1_000 });
    const first = await store.append('one', messageOf(400), { sessionId: 'a' });
    await store.append('two', messageOf(400), { sessionId: 'a' });
    await store.append('other', messageOf(400), { sessionId: 'b' });
    const third = await store.append('two', messageOf(400), { sessionId: 'a' });

    expect(store.sessionBytes('a')).toBe(800);
    expect(store.sessionBytes('b')).toBe(400);
    expect(await store.eventsAfter(first)).toEqual([]);
    expect((await store.eventsAfter(store.primingId('two')))?.map((e) => e.eventId)).toHaveLength(2);
    expect(third).toBe('two.2');
  });

  it('refuses a resumption from before an evicted event instead of skipping it', async () => {
    const store = new MemoryEventStore(10, { maxEventBytesPerSession: 1_000 });
    const first = await store.append('s', messageOf(600), { sessionId: 'a' });
    await store.append('s', messageOf(600), { sessionId: 'a' });

    await expect(store.eventsAfter(store.primingId('s'))).rejects.toBeInstanceOf(EventsEvictedError);
    await expect(store.eventsAfter(first)).resolves.toHaveLength(1);
  });

  it('refuses a resumption from before events evicted by the count cap', async () => {
    const store = new MemoryEventStore(2);
    for (let i = 0; i < 3; i++) await store.append('s', messageOf(100));

    await expect(store.eventsAfter('s.0')).rejects.toBeInstanceOf(EventsEvictedError);
    await expect(store.eventsAfter('s.1')).resolves.toHaveLength(2);
  });

  it('gives a too-large message an id, reports it and keeps nothing a resumption could miss it behind', async () => {
    const heard: EventTooLarge[] = [];
    const store = new MemoryEventStore(10, { maxEventBytes: 500, onEventTooLarge: (e) => heard.push(e) });
    await store.append('s', messageOf(100), { sessionId: 'a' });
    const big = await store.append('s', messageOf(501), { sessionId: 'a' });
    const after = await store.append('s', messageOf(100), { sessionId: 'a' });

    expect(big).toBe('s.2');
    expect(heard).toEqual([{ streamId: 's', eventId: big, sessionId: 'a', bytes: 501, maxEventBytes: 500 }]);
    expect(store.sessionBytes('a')).toBe(100);
    await expect(store.eventsAfter('s.1')).rejects.toBeInstanceOf(EventsEvictedError);
    expect((await store.eventsAfter(big))?.map((e) => e.eventId)).toEqual([after]);
  });

  it('measures the serialized text the caller passes instead of serializing again', async () => {
    const heard: number[] = [];
    const store = new MemoryEventStore(10, {
      maxEventBytes: 50,
      onEventTooLarge: (e) => heard.push(e.bytes),
    });
    await store.append('s', { jsonrpc: '2.0', method: 'x' }, { serialized: 'x'.repeat(60) });

    expect(heard).toEqual([60]);
    await expect(store.eventsAfter('s.0')).rejects.toBeInstanceOf(EventsEvictedError);
  });

  it('frees a deleted stream and its share of the budget, across many short streams', async () => {
    const store = new MemoryEventStore(1_000, { maxEventBytesPerSession: 10_000 });
    await store.append('keep', messageOf(100), { sessionId: 'a' });
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) await store.append(`gone-${round}`, messageOf(100), { sessionId: 'a' });
      await store.deleteStream(`gone-${round}`);
    }

    expect(store.sessionBytes('a')).toBe(100);
    expect(store.streamCount).toBe(1);
    await store.deleteStream('keep');
    expect(store.sessionBytes('a')).toBe(0);
  });
});
