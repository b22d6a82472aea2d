import type { JSONRPCMessage } from '@modelcontextprotocol/server';

/** A stored event, replayed in order after a `Last-Event-ID`. */
export interface StoredEvent {
  eventId: string;
  message: JSONRPCMessage;
}

/**
 * Events kept for resumability. Event ids name their stream, so a
 * `Last-Event-ID` alone finds the stream to resume. Async so that a shared
 * store (Redis Streams) can replace the in-memory one.
 */
export interface EventStore {
  /** Appends a message to a stream and returns its new event id. */
  append(streamId: string, message: JSONRPCMessage): Promise<string>;
  /** The event id that marks the start of a stream (the priming event's id); resuming from it replays all. */
  primingId(streamId: string): string;
  /** The stream an event id belongs to, if the id is well-formed. */
  streamOf(eventId: string): string | undefined;
  /** Events of the id's stream after it, oldest first; undefined if the stream is unknown. */
  eventsAfter(eventId: string): Promise<StoredEvent[] | undefined>;
  deleteStream(streamId: string): Promise<void>;
}

interface MemoryStream {
  nextSeq: number;
  events: StoredEvent[];
}

/**
 * The embedded default: per stream, an array capped at `maxEventsPerStream`
 * (the oldest fall off first). Event ids are `<streamId>.<seq>`.
 *
 * @example
 * const store = new MemoryEventStore(1000);
 * const id = await store.append('s1', { jsonrpc: '2.0', method: 'x' });
 * await store.eventsAfter(id); // []
 */
export class MemoryEventStore implements EventStore {
  private readonly streams = new Map<string, MemoryStream>();

  constructor(private readonly maxEventsPerStream: number) {}

  private stream(streamId: string): MemoryStream {
    let s = this.streams.get(streamId);
    if (!s) {
      s = { nextSeq: 1, events: [] };
      this.streams.set(streamId, s);
    }
    return s;
  }

  primingId(streamId: string): string {
    return `${streamId}.0`;
  }

  async append(streamId: string, message: JSONRPCMessage): Promise<string> {
    const s = this.stream(streamId);
    const eventId = `${streamId}.${s.nextSeq++}`;
    s.events.push({ eventId, message });
    if (s.events.length > this.maxEventsPerStream) s.events.shift();
    return eventId;
  }

  streamOf(eventId: string): string | undefined {
    const dot = eventId.lastIndexOf('.');
    if (dot <= 0 || !/^\d+$/.test(eventId.slice(dot + 1))) return undefined;
    return eventId.slice(0, dot);
  }

  async eventsAfter(eventId: string): Promise<StoredEvent[] | undefined> {
    const streamId = this.streamOf(eventId);
    const s = streamId === undefined ? undefined : this.streams.get(streamId);
    if (!s) return streamId === undefined ? undefined : [];
    const seq = Number(eventId.slice(eventId.lastIndexOf('.') + 1));
    return s.events.filter((e) => Number(e.eventId.slice(e.eventId.lastIndexOf('.') + 1)) > seq);
  }

  async deleteStream(streamId: string): Promise<void> {
    this.streams.delete(streamId);
  }

  /** Number of streams held; for tests and diagnostics. */
  get streamCount(): number {
    return this.streams.size;
  }
}
