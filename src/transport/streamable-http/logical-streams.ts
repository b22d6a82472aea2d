import type { RequestId } from '@modelcontextprotocol/server';
import { randomId } from '../../connection/ids.js';
import type { SseConnection } from '../../connection/sse-connection.js';
import { messageFrame } from '../../protocol/sse-frames.js';
import type { StoredEvent } from '../../session/event-store.js';
import type { ReplayBacklog } from './replay-backlog.js';

/** A resumable stream of one session: a POST's responses or the standalone GET stream. */
export interface LogicalStream {
  readonly id: string;
  readonly kind: 'response' | 'standalone';
  /** Requests of a response stream still waiting for their response. */
  readonly pending: Set<RequestId>;
  connection: SseConnection | undefined;
  /** While a resumed connection replays stored events, live frames wait here. */
  backlog: ReplayBacklog | undefined;
  /** Another node said the stream is done while the backlog was filling (Redis mode). */
  endedRemotely: boolean;
}

/** Finished response streams whose events a session keeps for late resumption. */
export const FINISHED_STREAMS_KEPT = 32;

/**
 * The logical streams of one session: which are open, which stream each
 * request is answered on, and which stream ids hold stored events (the last
 * {@link FINISHED_STREAMS_KEPT} finished ones among them). Bookkeeping only:
 * the caller deletes from the event store the ids it is handed back.
 *
 * @example
 * const streams = new SessionStreams(undefined);
 * const s = streams.create('response');
 * streams.bind(s, [1]);
 * streams.answered(1); // { stream: s, done: true }
 */
export class SessionStreams {
  private readonly open = new Map<string, LogicalStream>();
  private readonly byRequest = new Map<RequestId, LogicalStream>();
  /** Every stream id the session stored events under; deleted with the session. */
  private readonly stored = new Set<string>();
  /** Finished response streams, oldest first. */
  private readonly finishedIds: string[] = [];
  standalone: LogicalStream | undefined;

  /** `standaloneId`: the id every node uses for the session's standalone stream (Redis mode). */
  constructor(private readonly standaloneId: string | undefined) {}

  create(kind: LogicalStream['kind']): LogicalStream {
    const id = (kind === 'standalone' ? this.standaloneId : undefined) ?? randomId();
    const stream = LogicalStream(id, kind);
    this.open.set(id, stream);
    this.stored.add(id);
    if (kind === 'standalone') this.standalone = stream;
    return stream;
  }

  /** The open stream `id`, or a stand-in for one that finished (or that another node opened). */
  resumable(id: string): { stream: LogicalStream; live: boolean } {
    const live = this.open.get(id);
    if (live) return { stream: live, live: true };
    const stream = LogicalStream(id, id === this.standaloneId ? 'standalone' : 'response');
    if (stream.kind === 'standalone') {
      // The standalone stream resumed on a node that had not opened it: it is the session's from now on.
      this.standalone ??= stream;
      this.open.set(id, stream);
    }
    return { stream, live: false };
  }

  /** Whether `id` is a response stream that finished here and whose events are still kept. */
  isFinished(id: string): boolean {
    return !this.open.has(id) && this.stored.has(id) && this.finishedIds.includes(id);
  }

  isOpen(id: string): boolean {
    return this.open.has(id);
  }

  /** Whether the session stored events under `id` (and so may resume it). */
  knows(id: string): boolean {
    return this.stored.has(id);
  }

  forRequest(id: RequestId): LogicalStream | undefined {
    return this.byRequest.get(id);
  }

  hasRequest(id: RequestId): boolean {
    return this.byRequest.has(id);
  }

  bind(stream: LogicalStream, requestIds: readonly RequestId[]): void {
    for (const id of requestIds) {
      stream.pending.add(id);
      this.byRequest.set(id, stream);
    }
  }

  /** A request answered or cancelled: its stream, and whether the stream has nothing left to wait for. */
  answered(id: RequestId): { stream: LogicalStream; done: boolean } | undefined {
    const stream = this.byRequest.get(id);
    if (!stream) return undefined;
    stream.pending.delete(id);
    this.byRequest.delete(id);
    return { stream, done: stream.pending.size === 0 };
  }

  /**
   * A stream whose requests are all answered: no longer open, its events kept
   * for late resumptions. Returns the oldest finished stream's id once more
   * than {@link FINISHED_STREAMS_KEPT} are kept, for the caller to delete.
   */
  finish(stream: LogicalStream): string | undefined {
    this.open.delete(stream.id);
    this.finishedIds.push(stream.id);
    if (this.finishedIds.length <= FINISHED_STREAMS_KEPT) return undefined;
    const oldest = this.finishedIds.shift();
    return oldest !== undefined && this.stored.delete(oldest) ? oldest : undefined;
  }

  /** Forgets every finished stream; returns their ids for the caller to delete. */
  forgetFinished(): string[] {
    return this.finishedIds.splice(0).filter((id) => this.stored.delete(id));
  }

  get connections(): number {
    let n = 0;
    for (const s of this.open.values()) if (s.connection && !s.connection.closed) n++;
    return n;
  }

  get pendingRequests(): number {
    return this.byRequest.size;
  }

  /** Closes every attached connection and forgets everything; returns every stored stream id. */
  clear(close: (connection: SseConnection) => void): string[] {
    for (const s of this.open.values()) if (s.connection) close(s.connection);
    const ids = [...this.stored];
    this.open.clear();
    this.byRequest.clear();
    this.stored.clear();
    return ids;
  }
}

function LogicalStream(id: string, kind: LogicalStream['kind']): LogicalStream {
  return { id, kind, pending: new Set(), connection: undefined, backlog: undefined, endedRemotely: false };
}

/**
 * Writes stored events to a resumed connection, then the live frames held
 * back meanwhile. One frame at a time, waiting for the socket to drain: a
 * client that does not read holds one serialized event, not every event of
 * the stream at once, and is closed by the byte cap or the slow-consumer
 * check. Returns how many stored events were written.
 */
export async function replayInto(
  stream: LogicalStream,
  backlog: ReplayBacklog,
  connection: SseConnection,
  events: readonly StoredEvent[],
): Promise<number> {
  const seen = new Set<string>();
  let written = 0;
  for (const e of events) {
    if (connection.closed) break;
    seen.add(e.eventId);
    written++;
    if (!connection.write(messageFrame(e.message, e.eventId))) await connection.whenDrained();
  }
  // A later resumption of the same stream took over: its own backlog is not ours to flush.
  if (stream.backlog !== backlog) return written;
  for (const b of backlog) if (!seen.has(b.eventId)) connection.write(b.frame);
  stream.backlog = undefined;
  return written;
}
