import type { CloseReason } from './close-reason.js';
import type { ConnectionRegistry } from './registry.js';
import type { SseConnection } from './sse-connection.js';

/** Settings the scheduler enforces on every stream. */
export interface KeepaliveSettings {
  pingIntervalMs: number;
  maxPingFailures: number;
  /** `0` disables. */
  maxConnectionAgeMs: number;
}

/**
 * One timer for every stream in the registry. Each tick writes a keepalive
 * to streams idle for a full interval, counts a failure for a stream whose
 * previous frames have not drained, and closes streams past their maximum
 * age. Extra per-tick work (such as the session idle sweep) hooks in through
 * {@link onTick} so the process keeps a single timer.
 *
 * @example
 * const scheduler = new KeepaliveScheduler(registry, settings);
 * scheduler.start();
 * // ...
 * scheduler.stop();
 */
export class KeepaliveScheduler {
  private timer: NodeJS.Timeout | undefined;
  private readonly hooks: Array<(now: number) => void> = [];
  private draining = false;
  readonly tickMs: number;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly settings: KeepaliveSettings,
  ) {
    // A tick every fifth of the interval keeps each keepalive within 20% of its due time.
    this.tickMs = Math.min(Math.max(Math.floor(settings.pingIntervalMs / 5), 50), 5_000);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(Date.now()), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /**
   * From now on, liveness pings are neither sent nor counted: a draining
   * server refuses the replies itself, so a silent client proves nothing.
   * Keepalives, age and buffer checks go on.
   */
  drain(): void {
    this.draining = true;
  }

  onTick(hook: (now: number) => void): void {
    this.hooks.push(hook);
  }

  /** Counts a failure; closes the stream with `reason` and returns true once the limit is reached. */
  private fail(conn: SseConnection, why: 'unanswered' | 'undrained', reason: CloseReason): boolean {
    conn.consecutiveFailures++;
    this.registry.pingFailed(conn, why);
    if (conn.consecutiveFailures < this.settings.maxPingFailures) return false;
    this.registry.logger.warn(
      { ...conn.logFields(), failures: conn.consecutiveFailures, reason },
      'connection.max_failures_reached',
    );
    conn.close(reason);
    return true;
  }

  /** One pass over every stream; public so tests can drive it directly. */
  tick(now: number): void {
    const { pingIntervalMs, maxConnectionAgeMs } = this.settings;
    for (const conn of this.registry.values()) {
      // A closed stream still sending its last bytes is bounded by the close grace, not here.
      if (conn.closed) continue;
      if (maxConnectionAgeMs > 0 && now - conn.openedAt >= maxConnectionAgeMs) {
        conn.close('max_age');
        continue;
      }
      if (conn.bufferedBytes > 0) {
        // Frames queued a full interval without the buffer draining once: the
        // client is not reading. Checked whether or not the stream is still
        // being written to, so a producer that keeps writing to a peer that
        // stopped reading cannot grow the buffer without bound.
        if (now - conn.lastDrainAt >= pingIntervalMs) {
          conn.lastDrainAt = now;
          this.fail(conn, 'undrained', 'slow_consumer');
        }
        continue;
      }
      conn.lastDrainAt = now;
      // A drained buffer proves the client reads: it clears the failures counted for a backlog.
      // Only an unanswered liveness ping keeps counting (its reply resets it).
      if (conn.outstandingPing === undefined) conn.consecutiveFailures = 0;
      if (now - conn.lastWriteAt < pingIntervalMs) continue;
      if (conn.outstandingPing !== undefined && !this.draining) {
        // A liveness ping from the previous interval was never answered.
        if (this.fail(conn, 'unanswered', 'ping_timeout')) continue;
      }
      conn.writeKeepalive(!this.draining);
    }
    for (const hook of this.hooks) hook(now);
  }
}
