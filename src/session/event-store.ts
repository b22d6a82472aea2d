import type { JSONRPCMessage } from '@modelcontextprotocol/server';

/** A stored event, replayed in order after a `Last-Event-ID`. */
export interface StoredEvent {
  eventId: string;
  message: JSONRPCMessage;
}

/** What a caller knows about a message it appends. */
export interface AppendOptions {
  /** The session the stream belongs to: stores that budget bytes per session count it there. */
  sessionId?: string | undefined;
  /** The message as JSON, when the caller serialized it already (so the store need not again). */
  serialized?: string | undefined;
}

/** A message delivered live but not stored, because it is larger than a store's `maxEventBytes`. */
export interface EventTooLarge {
  streamId: string;
  eventId: string;
  sessionId: string | undefined;
  bytes: number;
  maxEventBytes: number;
}

/**
 * Raised by {@link EventStore.eventsAfter} when an event after the given id
 * is no longer kept (evicted for space or count, or never stored because it
 * was too large): replaying the rest would silently skip it. Local: the
 * edge answers it as `TETHER_ERR_SESSION_EVENTS_EVICTED` (410).
 *
 * @example
 * try { await store.eventsAfter(id); } catch (e) { if (e instanceof EventsEvictedError) refuse(); }
 */
export class EventsEvictedError extends Error {
  override readonly name = 'EventsEvictedError';
  readonly code = 'TETHER_ERR_SESSION_EVENTS_EVICTED';
  constructor(readonly eventId: string) {
    super(`Events after ${eventId} are no longer kept`);
  }
}

/**
 * Events kept for resumability. Event ids name their stream, so a
 * `Last-Event-ID` alone finds the stream to resume. Async so that a shared
 * store (Redis Streams) can replace the in-memory one.
 */
export interface EventStore {
  /** Appends a message to a stream and returns its new event id. */
  append(streamId: string, message: JSONRPCMessage, options?: AppendOptions): Promise<string>;
  /** The event id that marks the start of a stream (the priming event's id); resuming from it replays all. */
  primingId(streamId: string): string;
  /** The stream an event id belongs to, if the id is well-formed. */
  streamOf(eventId: string): string | undefined;
  /**
   * Events of the id's stream after it, oldest first; undefined if the id is
   * malformed. Rejects with {@link EventsEvictedError} when one of them is no
   * longer kept.
   */
  eventsAfter(eventId: string): Promise<StoredEvent[] | undefined>;
  deleteStream(streamId: string): Promise<void>;
}

/** Bounds of a {@link MemoryEventStore} beyond its event count per stream. */
export interface MemoryEventStoreLimits {
  /** Largest serialized message stored; larger ones get an id but are not kept. Default: no limit. */
  maxEventBytes?: number;
  /** Serialized bytes kept per session (per stream when appended without a session); the oldest go first. Default: no limit. */
  maxEventBytesPerSession?: number;
  /** Told about every message not stored because it is larger than `maxEventBytes`. */
  onEventTooLarge?: (event: EventTooLarge) => void;
}

interface KeptEvent extends StoredEvent {
  readonly seq: number;
  readonly bytes: number;
  readonly stream: MemoryStream;
  gone: boolean;
}

/** The bytes one session (or one session-less stream) holds, and its events in append order. */
interface Budget {
  readonly key: string;
  bytes: number;
  live: number;
  streams: number;
  order: KeptEvent[];
  head: number;
}

interface MemoryStream {
  readonly id: string;
  readonly budget: Budget;
  nextSeq: number;
  events: KeptEvent[];
  /** Every event up to this sequence number is gone; a resumption from before it is refused. */
  goneThrough: number;
}

function seqOf(eventId: string): number {
  return Number(eventId.slice(eventId.lastIndexOf('.') + 1));
}

/**
 * The embedded default: per stream, an array capped at `maxEventsPerStream`,
 * and per session a byte budget; the oldest events fall off first, and a
 * resumption from before them is refused rather than replayed with a gap.
 * Event ids are `<streamId>.<seq>`.
 *
 * @example
 * const store = new MemoryEventStore(1000, { maxEventBytesPerSession: 16 * 1024 * 1024 });
 * const id = await store.append('s1', { jsonrpc: '2.0', method: 'x' }, { sessionId: 'a' });
 * await store.eventsAfter(id); // []
 */
export class MemoryEventStore implements EventStore {
  private readonly streams = new Map<string, MemoryStream>();
  private readonly budgets = new Map<string, Budget>();
  private readonly maxEventBytes: number;
  private readonly maxEventBytesPerSession: number;

  constructor(
    private readonly maxEventsPerStream: number,
    private readonly limits: MemoryEventStoreLimits = {},
  ) {
    this.maxEventBytes = limits.maxEventBytes ?? Number.POSITIVE_INFINITY;
    this.maxEventBytesPerSession = limits.maxEventBytesPerSession ?? Number.POSITIVE_INFINITY;
  }

  private stream(streamId: string, sessionId: string | undefined): MemoryStream {
    let s = this.streams.get(streamId);
    if (!s) {
      const key = sessionId === undefined ? `stream:${streamId}` : `session:${sessionId}`;
      let budget = this.budgets.get(key);
      if (!budget) {
        budget = { key, bytes: 0, live: 0, streams: 0, order: [], head: 0 };
        this.budgets.set(key, budget);
      }
      budget.streams++;
      s = { id: streamId, budget, nextSeq: 1, events: [], goneThrough: 0 };
      this.streams.set(streamId, s);
    }
    return s;
  }

  primingId(streamId: string): string {
    return `${streamId}.0`;
  }

  async append(streamId: string, message: JSONRPCMessage, options: AppendOptions = {}): Promise<string> {
    const s = this.stream(streamId, options.sessionId);
    const seq = s.nextSeq++;
    const eventId = `${streamId}.${seq}`;
    const bytes = Buffer.byteLength(options.serialized ?? JSON.stringify(message));
    if (bytes > this.maxEventBytes) {
      // Whoever misses this event cannot resume past it: what came before is unreachable too.
      this.dropOldest(s, s.events.length);
      s.goneThrough = seq;
      this.limits.onEventTooLarge?.({
        streamId,
        eventId,
        sessionId: options.sessionId,
        bytes,
        maxEventBytes: this.maxEventBytes,
      });
      return eventId;
    }
    const kept: KeptEvent = { eventId, message, seq, bytes, stream: s, gone: false };
    s.events.push(kept);
    const budget = s.budget;
    budget.order.push(kept);
    budget.bytes += bytes;
    budget.live++;
    if (s.events.length > this.maxEventsPerStream) this.dropOldest(s, 1);
    while (budget.bytes > this.maxEventBytesPerSession && budget.live > 1) this.evictOldest(budget);
    this.compact(budget);
    return eventId;
  }

  streamOf(eventId: string): string | undefined {
    const dot = eventId.lastIndexOf('.');
    if (dot <= 0 || !/^\d+$/.test(eventId.slice(dot + 1))) return undefined;
    return eventId.slice(0, dot);
  }

  async eventsAfter(eventId: string): Promise<StoredEvent[] | undefined> {
    const streamId = this.streamOf(eventId);
    if (streamId === undefined) return undefined;
    const s = this.streams.get(streamId);
    if (!s) return [];
    const seq = seqOf(eventId);
    if (seq < s.goneThrough) throw new EventsEvictedError(eventId);
    let first = 0;
    while (first < s.events.length && (s.events[first]?.seq ?? 0) <= seq) first++;
    return s.events.slice(first).map((e) => ({ eventId: e.eventId, message: e.message }));
  }

  async deleteStream(streamId: string): Promise<void> {
    const s = this.streams.get(streamId);
    if (!s) return;
    this.dropOldest(s, s.events.length);
    this.streams.delete(streamId);
    const budget = s.budget;
    budget.streams--;
    if (budget.streams === 0) this.budgets.delete(budget.key);
    else this.compact(budget);
  }

  /** Number of streams held; for tests and diagnostics. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Serialized bytes of the events one session holds; for tests and diagnostics. */
  sessionBytes(sessionId: string): number {
    return this.budgets.get(`session:${sessionId}`)?.bytes ?? 0;
  }

  private dropOldest(s: MemoryStream, count: number): void {
    for (const e of s.events.splice(0, count)) {
      e.gone = true;
      s.budget.bytes -= e.bytes;
      s.budget.live--;
      s.goneThrough = e.seq;
    }
  }

  /** Evicts the budget's oldest kept event, which is always the first of its stream. */
  private evictOldest(budget: Budget): void {
    while (budget.head < budget.order.length) {
      const e = budget.order[budget.head++];
      if (e && !e.gone) {
        this.dropOldest(e.stream, 1);
        return;
      }
    }
  }

  /** Forgets order entries of events already gone, so a long session's bookkeeping stays its size. */
  private compact(budget: Budget): void {
    const held = budget.order.length - budget.head;
    if (held <= 2 * budget.live + 64) return;
    budget.order = budget.order.slice(budget.head).filter((e) => !e.gone);
    budget.head = 0;
  }
}
