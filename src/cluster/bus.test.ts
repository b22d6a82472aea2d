import { describe, expect, it } from 'vitest';
import { LocalBus } from './bus.js';

describe('LocalBus', () => {
  it('delivers synchronously, in order, to every handler of the channel until it unsubscribes', async () => {
    const bus = new LocalBus();
    const seen: string[] = [];
    const offA = await bus.subscribe('c', (p) => seen.push(`a${String(p)}`));
    await bus.subscribe('c', (p) => seen.push(`b${String(p)}`));
    await bus.subscribe('other', () => seen.push('x'));
    void bus.publish('c', 1);
    expect(seen).toEqual(['a1', 'b1']);
    offA();
    offA();
    await bus.publish('c', 2);
    expect(seen).toEqual(['a1', 'b1', 'b2']);
  });

  it('keeps delivering when a handler throws', async () => {
    const errors: unknown[] = [];
    const bus = new LocalBus((err) => errors.push(err));
    const seen: number[] = [];
    await bus.subscribe('c', () => {
      throw new Error('boom');
    });
    await bus.subscribe('c', (p) => seen.push(p as number));
    await bus.publish('c', 7);
    expect(seen).toEqual([7]);
    expect(errors).toHaveLength(1);
  });

  it('has a node id without the characters event and request ids use as separators', () => {
    expect(new LocalBus().nodeId).toMatch(/^n[0-9a-f]{12}$/);
  });
});
