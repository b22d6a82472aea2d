import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { clientIpOf } from '../protocol/client-ip.js';
import type { CloseReason } from './close-reason.js';
import { randomId } from './ids.js';

/** Which transport a stream belongs to. */
export type TransportName = 'streamable-http' | 'http-sse' | 'seed-sse';

/** What a stream carries: one request's responses, the session's standalone stream, or a subscription. */
export type StreamKind = 'response' | 'standalone' | 'listen' | 'session';

/** The identity of a stream, fixed when it opens. */
export interface ConnectionInfo {
  transport: TransportName;
  kind: StreamKind;
  sessionId?: string | undefined;
  /** Keepalive frame for this stream; default an SSE comment. */
  keepalive?: ((connection: SseConnection) => string) | undefined;
  /** Final frame written before a server-initiated close; default a `retry` hint. */
  finalFrame?: ((reason: CloseReason, connection: SseConnection) => string | undefined) | undefined;
  /**
   * Liveness beyond TCP: instead of a comment, an idle stream is sent a
   * JSON-RPC `ping` request framed by this function, and the transport reports
   * replies with {@link SseConnection.answerPing}. Only for streams whose
   * client can answer (a 2025-era session's GET stream, HTTP+SSE).
   */
  pingRequest?: ((id: string) => string) | undefined;
}

/** Ids of liveness pings start with this, so a transport can recognise their replies. */
export const LIVENESS_PING_PREFIX = 'tether-ping-';

/** Where a connection reports its lifecycle. Implemented by the registry. */
export interface ConnectionOwner {
  readonly logger: Logger;
  readonly retryMs: number;
  /** How long a gracefully closed stream may wait for its peer to take the last bytes. */
  readonly closeGraceMs: number;
  /** Unsent bytes one stream may hold before it is closed as `slow_consumer`; `0` = no cap. */
  readonly maxBufferedBytes: number;
  added(connection: SseConnection): void;
  /** The stream closed (once, with its reason); its socket may still be sending its last bytes. */
  closed(connection: SseConnection, reason: CloseReason): void;
  /** The stream's bytes are gone (flushed, or the socket destroyed): it no longer holds anything. */
  released(connection: SseConnection): void;
  /** A keepalive or liveness ping was written. */
  pinged(connection: SseConnection): void;
  /** A ping failed (`unanswered` liveness ping or `undrained` buffer). */
  pingFailed(connection: SseConnection, why: 'unanswered' | 'undrained'): void;
}

const COMMENT_PING = ': ping\n\n';

/**
 * One live SSE response on a socket. It owns nothing but the response: it
 * turns the socket's `close` into {@link signal}, counts what it writes, and
 * closes exactly once with exactly one {@link CloseReason}.
 *
 * @example
 * const conn = registry.open(req, res, { transport: 'streamable-http', kind: 'standalone' });
 * conn.write('event: message\ndata: {}\n\n');
 * conn.onClose((reason) => cleanup(reason));
 */
export class SseConnection {
  readonly id: string;
  readonly transport: TransportName;
  readonly kind: StreamKind;
  readonly sessionId: string | undefined;
  readonly clientIp: string;
  readonly userAgent: string;
  readonly openedAt: number;
  lastWriteAt: number;
  /**
   * When the send buffer was last seen empty or drained (or a backlog failure
   * was last counted): a buffer that stays backed up a full ping interval past
   * this counts a failure, however often the stream is written to.
   */
  lastDrainAt: number;
  pingsSent = 0;
  consecutiveFailures = 0;
  bytesWritten = 0;
  /** False while a raw pass-through write has ended mid-frame; keepalives wait for a boundary. */
  atFrameBoundary = true;
  closeReason: CloseReason | undefined;
  /** Id of the liveness ping awaiting a reply, if any. */
  outstandingPing: string | undefined;

  /** Created when {@link signal} is first read: most streams only need {@link onClose}. */
  private controller: AbortController | undefined;
  private closeListeners: Array<(reason: CloseReason) => void> | undefined;
  private readonly res: ServerResponse;
  private readonly owner: ConnectionOwner;
  private readonly info: ConnectionInfo;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    info: ConnectionInfo,
    owner: ConnectionOwner,
    id?: string,
  ) {
    this.id = id ?? randomId();
    this.transport = info.transport;
    this.kind = info.kind;
    this.sessionId = info.sessionId;
    this.clientIp = clientIpOf(req);
    this.userAgent = String(req.headers['user-agent'] ?? '');
    this.openedAt = Date.now();
    this.lastWriteAt = this.openedAt;
    this.lastDrainAt = this.openedAt;
    this.res = res;
    this.owner = owner;
    this.info = info;
    res.on('close', () => {
      if (this.closeReason === undefined)
        this.close(res.writableFinished ? 'completed' : 'client_disconnect');
    });
    res.on('error', () => {
      if (this.closeReason === undefined) this.close('write_failed');
    });
    res.on('drain', () => {
      this.lastDrainAt = Date.now();
    });
    owner.added(this);
  }

  /** Aborted when the stream closes, with the {@link CloseReason} as `signal.reason`. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.closeReason !== undefined) this.controller.abort(this.closeReason);
    }
    return this.controller.signal;
  }

  /**
   * Calls `listener` once when the stream closes (at once if it has), after
   * {@link signal} is aborted. Cheaper than a signal listener on hot paths.
   * Returns a function that removes the listener.
   */
  onClose(listener: (reason: CloseReason) => void): () => void {
    if (this.closeReason !== undefined) {
      listener(this.closeReason);
      return () => {};
    }
    this.closeListeners ??= [];
    this.closeListeners.push(listener);
    return () => {
      const i = this.closeListeners?.indexOf(listener) ?? -1;
      if (i >= 0) this.closeListeners?.splice(i, 1);
    };
  }

  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  /** Bytes accepted by `write()` but not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.res.writableLength;
  }

  /** Log fields shared by every lifecycle line of this stream. */
  logFields(): Record<string, unknown> {
    return {
      connection_id: this.id,
      session_id: this.sessionId,
      client_ip: this.clientIp,
      user_agent: this.userAgent,
      transport: this.transport,
      stream: this.kind,
    };
  }

  /** Sends the SSE response headers at once, so proxies and clients see the stream open. */
  open(extraHeaders: Record<string, string> = {}): void {
    const headers: Record<string, string> = {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    };
    for (const [name, value] of Object.entries(extraHeaders)) headers[name.toLowerCase()] = value;
    // A request's answer usually follows within the same turn of the event
    // loop: corked, the headers, priming event, answer and chunk terminator
    // leave in one write instead of three or four.
    const socket = this.kind === 'response' ? this.res.socket : null;
    if (socket && !socket.writableCorked) {
      socket.cork();
      setImmediate(() => socket.uncork());
    }
    this.res.writeHead(200, headers);
    this.res.flushHeaders();
  }

  /**
   * Writes whole SSE frames. Returns false once the stream is closed or the
   * socket is backed up (the caller may keep writing, or wait with
   * {@link whenDrained}). A frame that would take the unsent bytes past
   * `maxBufferedBytes` closes the stream as `slow_consumer` instead, unless
   * nothing is buffered: one frame larger than the cap still reaches a
   * client that keeps up.
   */
  write(frame: string | Uint8Array): boolean {
    if (this.closeReason !== undefined) return false;
    const bytes = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
    const buffered = this.res.writableLength;
    if (buffered > 0 && !this.withinBufferCap(buffered + bytes)) return false;
    this.bytesWritten += bytes;
    this.lastWriteAt = Date.now();
    return this.res.write(frame);
  }

  /**
   * Whether the stream may hold `queuedBytes` more than its socket buffers
   * (frames a caller keeps for it, such as live frames waiting out a
   * replay); past the cap it closes as `slow_consumer` and returns false.
   */
  admitQueued(queuedBytes: number): boolean {
    if (this.closeReason !== undefined) return false;
    return this.withinBufferCap(this.res.writableLength + queuedBytes);
  }

  private withinBufferCap(unsentBytes: number): boolean {
    const cap = this.owner.maxBufferedBytes;
    if (cap === 0 || unsentBytes <= cap) return true;
    this.owner.logger.warn(
      { ...this.logFields(), buffered_bytes: unsentBytes, max_buffered_bytes: cap },
      'connection.buffer_cap_reached',
    );
    this.close('slow_consumer');
    return false;
  }

  /** Resolves once the socket buffer has drained or the stream has closed. */
  whenDrained(): Promise<void> {
    if (this.closed || this.res.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        stop();
        resolve();
      };
      this.res.once('drain', done);
      const stop = this.onClose(done);
    });
  }

  /**
   * Writes a keepalive frame if the stream sits at a frame boundary: a
   * liveness ping on streams that probe, unless `probe` is false.
   */
  writeKeepalive(probe = true): void {
    if (!this.atFrameBoundary) return;
    let frame: string;
    if (this.info.pingRequest && probe) {
      this.outstandingPing = `${LIVENESS_PING_PREFIX}${this.pingsSent + 1}`;
      frame = this.info.pingRequest(this.outstandingPing);
    } else {
      frame = this.info.keepalive?.(this) ?? COMMENT_PING;
    }
    this.pingsSent++;
    this.write(frame);
    this.owner.pinged(this);
  }

  /** Whether this stream sends liveness pings that must be answered. */
  get probesLiveness(): boolean {
    return this.info.pingRequest !== undefined;
  }

  /**
   * Records the client's reply to a liveness ping; any reply, even an error,
   * proves it alive. Returns false when `id` is not this stream's ping.
   */
  answerPing(id: unknown): boolean {
    if (typeof id !== 'string' || !id.startsWith(LIVENESS_PING_PREFIX)) return false;
    if (id === this.outstandingPing) {
      this.outstandingPing = undefined;
      this.consecutiveFailures = 0;
    }
    return true;
  }

  /**
   * Ends the stream once; later calls are ignored. Server-initiated closes
   * first try a final frame (by default a `retry` hint so clients resume).
   */
  close(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    // A slow consumer is not reading: a final frame would only queue behind the
    // backlog and a graceful end() would hold the socket and its buffer until
    // the peer reads, so it is dropped like a dead peer.
    const forced = reason === 'client_disconnect' || reason === 'write_failed' || reason === 'slow_consumer';
    if (reason === 'client_disconnect')
      this.owner.logger.debug(this.logFields(), 'connection.abort_detected');
    else if (reason !== 'completed')
      this.owner.logger.info({ ...this.logFields(), reason }, 'connection.closing');
    if (!forced && reason !== 'completed' && this.res.writable && this.atFrameBoundary) {
      const frame = this.info.finalFrame
        ? this.info.finalFrame(reason, this)
        : `retry: ${this.owner.retryMs}\n\n`;
      if (frame) this.res.write(frame);
    }
    if (forced) this.res.destroy();
    else this.res.end();
    this.owner.closed(this, reason);
    this.releaseWhenSent();
    this.controller?.abort(reason);
    const listeners = this.closeListeners;
    this.closeListeners = undefined;
    if (listeners) for (const listener of listeners) listener(reason);
  }

  /**
   * A closed stream counts against the caps until its bytes are gone: a
   * peer that never reads would otherwise hold a socket and its backlog
   * outside every limit, once per resumption. A graceful end waits at most
   * closeGraceMs without progress (the socket timeout), then is destroyed.
   */
  private releaseWhenSent(): void {
    if (this.res.writableFinished || this.res.destroyed) {
      this.owner.released(this);
      return;
    }
    const release = () => {
      this.res.off('finish', release);
      this.res.off('close', release);
      this.owner.released(this);
    };
    this.res.on('finish', release);
    this.res.on('close', release);
    this.res.setTimeout(this.owner.closeGraceMs, () => this.res.destroy());
  }
}
