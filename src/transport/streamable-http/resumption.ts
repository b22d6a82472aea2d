import type { SseConnection } from '../../connection/sse-connection.js';
import type { ErrorCode } from '../../errors.js';
import { type EventStore, EventsEvictedError, type StoredEvent } from '../../session/event-store.js';
import type { FollowTarget, SessionRouting } from '../../session/routing.js';
import { type LogicalStream, replayInto, type SessionStreams } from './logical-streams.js';
import { ReplayBacklog } from './replay-backlog.js';

/** What to answer instead of serving a GET: a registry code, and what refines its message. */
export interface Refusal {
  code: ErrorCode;
  detail?: string;
}

/** What a resumption needs of its session transport. */
export interface ResumeContext {
  streams: SessionStreams;
  routing: SessionRouting;
  eventStore: EventStore;
  retryMs: number;
  /** Opens and registers the resumed connection for `stream`. */
  openConnection(stream: LogicalStream): SseConnection;
  /** The replay wrote `count` stored events; the session's streams changed. */
  replayed(count: number): void;
  onStoreError?(err: unknown, what: string): void;
}

/** How what other nodes publish for `stream` reaches `connection` while it is attached. */
export function followTarget(stream: LogicalStream, connection: SseConnection): FollowTarget {
  const replaying = () => stream.backlog !== undefined && stream.connection === connection;
  return {
    connection,
    event(eventId, frame) {
      if (replaying()) stream.backlog?.push({ eventId, frame });
      else connection.write(frame);
    },
    ended() {
      if (replaying()) stream.endedRemotely = true;
      else if (stream.kind === 'response') connection.close('completed');
    },
  };
}

/**
 * Resumes a stream after `lastEventId`: replays what the store kept, then
 * goes on live. Refused (410, before the stream opens) when an event after
 * the id is no longer kept, so the client never gets a stream with a gap.
 * Live frames that arrive meanwhile wait in a backlog, so none is lost while
 * the store is read.
 *
 * @example
 * const refusal = await resumeStream(ctx, streamId, lastEventId);
 * if (refusal) sendError(res, 'TETHER_ERR_SESSION_EVENTS_EVICTED');
 */
export async function resumeStream(
  ctx: ResumeContext,
  streamId: string,
  lastEventId: string,
): Promise<Refusal | undefined> {
  const { stream, live } = ctx.streams.resumable(streamId);
  stream.connection?.close('manual');
  const backlog = new ReplayBacklog();
  stream.backlog = backlog;
  stream.endedRemotely = false;
  let replayed: StoredEvent[] = [];
  try {
    replayed = (await ctx.eventStore.eventsAfter(lastEventId)) ?? [];
  } catch (err) {
    if (err instanceof EventsEvictedError) {
      if (stream.backlog === backlog) stream.backlog = undefined;
      return {
        code: 'TETHER_ERR_SESSION_EVENTS_EVICTED',
        detail: `Gone: events after ${lastEventId} are no longer kept; retry the request that opened the stream`,
      };
    }
    ctx.onStoreError?.(err, 'replay');
  }
  if (!live && replayed.length === 0 && ctx.streams.isFinished(streamId)) {
    // Everything the stream will ever carry was delivered (its requests answered or cancelled):
    // a stream opened only to end at once would have the client reconnect, and again.
    if (stream.backlog === backlog) stream.backlog = undefined;
    return { code: 'TETHER_ERR_SESSION_STREAM_ENDED' };
  }
  const connection = ctx.openConnection(stream);
  connection.write(`retry: ${ctx.retryMs}\n\n`);
  stream.connection = connection;
  backlog.attach(connection);
  const target = followTarget(stream, connection);
  if (ctx.routing.shared) {
    // Listen first, then read the store again, so nothing another node published in between is lost.
    await ctx.routing.follow(stream.id, target);
    try {
      replayed = (await ctx.eventStore.eventsAfter(lastEventId)) ?? [];
    } catch (err) {
      ctx.onStoreError?.(err, 'replay');
      if (err instanceof EventsEvictedError) connection.close('error');
    }
  }
  ctx.replayed(await replayInto(stream, backlog, connection, replayed));
  if (stream.kind === 'standalone' || connection.closed) return undefined;
  // A stream whose requests all completed has nothing more to send.
  if (live) {
    if (!ctx.streams.isOpen(streamId)) connection.close('completed');
  } else if (stream.endedRemotely || (await ctx.routing.resumedElsewhere(streamId, target)) === 'completed') {
    connection.close('completed');
  }
  return undefined;
}
