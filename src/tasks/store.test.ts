import { describe, expect, it } from 'vitest';
import { MemoryTaskStore, TaskCapacityError, type TaskRecord } from './store.js';

function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

function record(taskId: string, at: number, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId,
    status: 'working',
    createdAt: at,
    lastUpdatedAt: at,
    ttlMs: 60_000,
    toolName: 'job',
    ...overrides,
  };
}

describe('MemoryTaskStore', () => {
  it('finds a task as soon as create resolves, and hands out copies', async () => {
    const c = clock();
    const store = new MemoryTaskStore({ now: c.now });
    await store.create(record('a', c.now()));
    const got = await store.get('a');
    expect(got?.status).toBe('working');
    got!.status = 'completed';
    expect((await store.get('a'))?.status).toBe('working');
    await expect(store.create(record('a', c.now()))).rejects.toThrow(/already exists/);
  });

  it('keeps a task for its whole TTL and drops it after', async () => {
    const c = clock();
    const store = new MemoryTaskStore({ now: c.now });
    await store.create(record('a', c.now(), { ttlMs: 1_000 }));
    c.advance(999);
    expect(await store.get('a')).toBeDefined();
    c.advance(1);
    expect(await store.get('a')).toBeUndefined();
    expect(await store.update('a', { status: 'completed' })).toBeUndefined();
  });

  it('sweep drops expired tasks only and reports them; a null TTL never expires', async () => {
    const c = clock();
    const store = new MemoryTaskStore({ now: c.now });
    await store.create(record('short', c.now(), { ttlMs: 100 }));
    await store.create(record('long', c.now(), { ttlMs: 10_000 }));
    await store.create(record('forever', c.now(), { ttlMs: null }));
    c.advance(5_000);
    expect(await store.sweep()).toEqual(['short']);
    expect(store.size).toBe(2);
    c.advance(1_000_000_000);
    expect(await store.sweep()).toEqual(['long']);
    expect(await store.get('forever')).toBeDefined();
  });

  it('when full, drops the oldest finished task to make room', async () => {
    const c = clock();
    const store = new MemoryTaskStore({ maxTasks: 3, now: c.now });
    await store.create(record('running', c.now()));
    await store.create(record('done-1', c.now(), { status: 'completed' }));
    await store.create(record('done-2', c.now(), { status: 'failed' }));
    await store.create(record('new', c.now()));
    expect(store.size).toBe(3);
    expect(await store.get('done-1')).toBeUndefined();
    expect(await store.get('done-2')).toBeDefined();
    expect(await store.get('running')).toBeDefined();
  });

  it('when full of running tasks, refuses a new one rather than lose one', async () => {
    const c = clock();
    const store = new MemoryTaskStore({ maxTasks: 2, now: c.now });
    await store.create(record('a', c.now()));
    await store.create(record('b', c.now(), { status: 'input_required' }));
    await expect(store.create(record('c', c.now()))).rejects.toBeInstanceOf(TaskCapacityError);
    // Expired tasks make room first.
    c.advance(60_000);
    await store.create(record('c', c.now()));
    expect(store.size).toBe(1);
  });

  it('applies patches to live tasks, removes undefined fields, and never changes a terminal task', async () => {
    const c = clock();
    const store = new MemoryTaskStore({ now: c.now });
    await store.create(record('a', c.now()));
    c.advance(10);
    const asked = await store.update('a', {
      status: 'input_required',
      inputRequests: { q: { method: 'roots/list' } },
    });
    expect(asked?.status).toBe('input_required');
    expect(asked?.lastUpdatedAt).toBe(c.now());
    const resumed = await store.update('a', { status: 'working', inputRequests: undefined });
    expect(resumed).not.toHaveProperty('inputRequests');
    await store.update('a', { status: 'cancelled' });
    c.advance(10);
    const after = await store.update('a', { status: 'completed', result: { content: [] } });
    expect(after?.status).toBe('cancelled');
    expect(after?.result).toBeUndefined();
    expect(after?.lastUpdatedAt).toBe(c.now() - 10);
  });

  it('rejects a bound that is not a positive integer', () => {
    expect(() => new MemoryTaskStore({ maxTasks: 0 })).toThrow(RangeError);
    expect(() => new MemoryTaskStore({ maxTasks: 1.5 })).toThrow(RangeError);
  });
});
