import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisEventStore } from '../../src/cluster/redis-event-store.js';
import { EventsEvictedError, type EventTooLarge } from '../../src/index.js';
import { hasRedis, type RunningRedis, startRedis } from './support/redis.js';

describe.skipIf(!hasRedis())('RedisEventStore limits', () => {
  let redis: RunningRedis;
  let client: Redis;

  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
  });

  it('leaves a marker for a too-large message, so a resumption from before it is refused', async () => {
    const heard: EventTooLarge[] = [];
    const store = new RedisEventStore(client, 'limits:', 100, 60, {
      maxEventBytes: 1_000,
      onEventTooLarge: (e) => heard.push(e),
    });
    const small = await store.append('s', { jsonrpc: '2.0', method: 'a' });
    const big = await store.append(
      's',
      { jsonrpc: '2.0', method: 'b', params: { text: 'x'.repeat(100_000) } },
      {
        sessionId: 'sess',
      },
    );
    const after = await store.append('s', { jsonrpc: '2.0', method: 'c' });

    expect(heard).toMatchObject([{ streamId: 's', eventId: big, sessionId: 'sess', maxEventBytes: 1_000 }]);
    await expect(store.eventsAfter(small)).rejects.toBeInstanceOf(EventsEvictedError);
    expect((await store.eventsAfter(big))?.map((e) => e.eventId)).toEqual([after]);
    // The marker holds no copy of the message.
    expect(await client.memory('USAGE', 'limits:events:s')).toBeLessThan(20_000);
  });
});
