import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import type { Redis } from 'ioredis';
import {
  type AppendOptions,
  type EventStore,
  EventsEvictedError,
  type MemoryEventStoreLimits,
  type StoredEvent,
} from '../session/event-store.js';

/** Bounds of a {@link RedisEventStore}: the per-event size cap (bytes per session are not counted here). */
export type RedisEventStoreLimits = Pick<MemoryEventStoreLimits, 'maxEventBytes' | 'onEventTooLarge'>;

const ENTRY_ID = /^\d+-\d+$/;

/**
 * Events for resumability in Redis Streams, one stream key per logical SSE
 * stream (`<prefix>events:<streamId>`), capped with `XADD MAXLEN ~` and
 * expiring `ttlSeconds` after the last append. Event ids are
 * `<streamId>.<entry id>` (e.g. `Ab3….1732400000000-0`), so any node can
 * find the stream from a `Last-Event-ID` and replay with an exclusive
 * `XRANGE`. A message larger than `maxEventBytes` is not stored: a small
 * marker entry takes its place, so a resumption from before it is refused
 * with {@link EventsEvictedError} on every node instead of skipping it.
 */
export class RedisEventStore implements EventStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly maxEventsPerStream: number,
    private readonly ttlSeconds: number,
    private readonly limits: RedisEventStoreLimits = {},
  ) {}

  private key(streamId: string): string {
    return `${this.prefix}events:${streamId}`;
  }

  primingId(streamId: string): string {
    return `${streamId}.0-0`;
  }

  async append(streamId: string, message: JSONRPCMessage, options: AppendOptions = {}): Promise<string> {
    const key = this.key(streamId);
    const data = options.serialized ?? JSON.stringify(message);
    const max = this.limits.maxEventBytes;
    const bytes = max === undefined ? 0 : Buffer.byteLength(data);
    const tooLarge = max !== undefined && bytes > max;
    const fields = tooLarge ? ['gone', String(bytes)] : ['m', data];
    const results = await this.redis
      .multi()
      .xadd(key, 'MAXLEN', '~', String(this.maxEventsPerStream), '*', ...fields)
      .expire(key, this.ttlSeconds)
      .exec();
    const [err, entryId] = results?.[0] ?? [new Error('XADD returned nothing'), null];
    if (err) throw err;
    const eventId = `${streamId}.${String(entryId)}`;
    if (tooLarge && max !== undefined) {
      this.limits.onEventTooLarge?.({
        streamId,
        eventId,
        sessionId: options.sessionId,
        bytes,
        maxEventBytes: max,
      });
    }
    return eventId;
  }

  streamOf(eventId: string): string | undefined {
    const dot = eventId.lastIndexOf('.');
    if (dot <= 0 || !ENTRY_ID.test(eventId.slice(dot + 1))) return undefined;
    return eventId.slice(0, dot);
  }

  async eventsAfter(eventId: string): Promise<StoredEvent[] | undefined> {
    const streamId = this.streamOf(eventId);
    if (streamId === undefined) return undefined;
    const after = eventId.slice(eventId.lastIndexOf('.') + 1);
    const entries = await this.redis.xrange(this.key(streamId), `(${after}`, '+');
    const events: StoredEvent[] = [];
    for (const [id, fields] of entries) {
      if (fields[0] === 'gone') throw new EventsEvictedError(eventId);
      const i = fields.indexOf('m');
      const raw = i >= 0 ? fields[i + 1] : undefined;
      if (raw === undefined) continue;
      events.push({ eventId: `${streamId}.${id}`, message: JSON.parse(raw) as JSONRPCMessage });
    }
    return events;
  }

  async deleteStream(streamId: string): Promise<void> {
    await this.redis.del(this.key(streamId));
  }
}
