import type { SseConnection } from '../../connection/sse-connection.js';

/** A live frame held back while a resumed connection replays stored events. */
export interface BacklogFrame {
  eventId: string;
  frame: string;
}

/**
 * Live frames of a stream that wait while its resumed connection replays
 * stored events. They count against the connection's byte cap together with
 * its socket buffer: a client that stops reading mid-replay is closed as
 * `slow_consumer` instead of growing this without bound.
 *
 * @example
 * const backlog = new ReplayBacklog();
 * backlog.attach(connection);
 * backlog.push({ eventId, frame });
 */
export class ReplayBacklog implements Iterable<BacklogFrame> {
  private readonly frames: BacklogFrame[] = [];
  private bytes = 0;
  private connection: SseConnection | undefined;

  /** The connection the frames are for, once it is open; checks what was held so far. */
  attach(connection: SseConnection): void {
    this.connection = connection;
    connection.admitQueued(this.bytes);
  }

  push(entry: BacklogFrame): void {
    this.frames.push(entry);
    this.bytes += Buffer.byteLength(entry.frame);
    this.connection?.admitQueued(this.bytes);
  }

  [Symbol.iterator](): Iterator<BacklogFrame> {
    return this.frames[Symbol.iterator]();
  }
}
