import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { DEFAULT_MAX_BUFFERED_BYTES } from '../config/options.js';
import type { CloseReason } from './close-reason.js';
import {
  type ConnectionInfo,
  type ConnectionOwner,
  SseConnection,
  type TransportName,
} from './sse-connection.js';

/** Default for {@link ConnectionRegistry.closeGraceMs}. */
export const DEFAULT_CLOSE_GRACE_MS = 10_000;

/** A listener told about every stream that opens or closes. */
export interface RegistryListener {
  opened?(connection: SseConnection): void;
  closed?(connection: SseConnection, reason: CloseReason): void;
  pinged?(connection: SseConnection): void;
  pingFailed?(connection: SseConnection): void;
}

/**
 * Every live stream of the process, whatever its transport. Streams enter
 * through {@link open} and leave once closed and their last bytes are gone
 * (flushed or the socket destroyed): until then they still count in
 * {@link size} and {@link countByClient}, so the caps see what they hold.
 *
 * @example
 * const registry = new ConnectionRegistry(logger, 1000);
 * const conn = registry.open(req, res, { transport: 'http-sse', kind: 'session' });
 * registry.size; // 1
 */
export class ConnectionRegistry implements ConnectionOwner {
  private readonly connections = new Map<string, SseConnection>();
  private readonly perClient = new Map<string, number>();
  private readonly listeners: RegistryListener[] = [];

  /**
   * @param retryMs `retry:` hint written on server-initiated closes.
   * @param closeGraceMs how long a gracefully closed stream whose peer takes
   *   no more bytes may keep its socket before it is destroyed.
   * @param maxBufferedBytes unsent bytes one stream may hold before it is
   *   closed as `slow_consumer`; `0` = no cap.
   */
  constructor(
    readonly logger: Logger,
    readonly retryMs: number,
    readonly closeGraceMs = DEFAULT_CLOSE_GRACE_MS,
    readonly maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES,
  ) {}

  /** Registers a new stream for `res`. The caller then calls `open()` or writes its own head. */
  open(req: IncomingMessage, res: ServerResponse, info: ConnectionInfo, id?: string): SseConnection {
    return new SseConnection(req, res, info, this, id);
  }

  get size(): number {
    return this.connections.size;
  }

  get(id: string): SseConnection | undefined {
    return this.connections.get(id);
  }

  values(): IterableIterator<SseConnection> {
    return this.connections.values();
  }

  /** Streams of one client address, open or still sending their last bytes. */
  countByClient(clientIp: string): number {
    return this.perClient.get(clientIp) ?? 0;
  }

  countBy(transport: TransportName): number {
    let n = 0;
    for (const c of this.connections.values()) if (c.transport === transport) n++;
    return n;
  }

  listen(listener: RegistryListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Closes every stream with `reason`. */
  closeAll(reason: CloseReason): void {
    for (const c of [...this.connections.values()]) c.close(reason);
  }

  added(connection: SseConnection): void {
    this.connections.set(connection.id, connection);
    this.perClient.set(connection.clientIp, (this.perClient.get(connection.clientIp) ?? 0) + 1);
    // A request's own response stream opens and completes with every call: that is
    // request traffic (counted in the request metrics), so it logs at debug.
    const level = connection.kind === 'response' ? 'debug' : 'info';
    if (this.logger.isLevelEnabled(level)) this.logger[level](connection.logFields(), 'connection.opened');
    for (const l of this.listeners) l.opened?.(connection);
  }

  pinged(connection: SseConnection): void {
    for (const l of this.listeners) l.pinged?.(connection);
  }

  pingFailed(connection: SseConnection, why: 'unanswered' | 'undrained'): void {
    this.logger.warn(
      {
        ...connection.logFields(),
        why,
        consecutive_failures: connection.consecutiveFailures,
        buffered_bytes: connection.bufferedBytes,
      },
      'connection.ping_failed',
    );
    for (const l of this.listeners) l.pingFailed?.(connection);
  }

  released(connection: SseConnection): void {
    if (!this.connections.delete(connection.id)) return;
    const left = (this.perClient.get(connection.clientIp) ?? 1) - 1;
    if (left > 0) this.perClient.set(connection.clientIp, left);
    else this.perClient.delete(connection.clientIp);
  }

  closed(connection: SseConnection, reason: CloseReason): void {
    if (!this.connections.has(connection.id)) return;
    const now = Date.now();
    const level =
      reason === 'error' || reason === 'write_failed' || reason === 'slow_consumer'
        ? 'warn'
        : reason === 'completed' && connection.kind === 'response'
          ? 'debug'
          : 'info';
    if (this.logger.isLevelEnabled(level))
      this.logger[level](
        {
          ...connection.logFields(),
          reason,
          uptime_ms: now - connection.openedAt,
          pings_sent: connection.pingsSent,
          bytes_written: connection.bytesWritten,
        },
        'connection.closed',
      );
    for (const l of this.listeners) l.closed?.(connection, reason);
  }
}
