import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { KeepaliveScheduler } from '../connection/keepalive-scheduler.js';
import type { ConnectionRegistry } from '../connection/registry.js';
import type { RequestTracker } from '../pipeline/metering.js';

/** What the drain stops, in the order it stops them. */
export interface LifecycleParts {
  logger: Logger;
  registry: ConnectionRegistry;
  scheduler: KeepaliveScheduler;
  requests: RequestTracker;
  shutdownGraceMs: number;
  sessionCount(): number;
  /** The listening server, once `listen()` made one. */
  httpServer(): Server | undefined;
  /** Closed after the streams got their final events: the 2026-07-28 dispatcher, tasks, sessions. */
  closeServing(): Promise<void>;
  /** Dropped at once by `destroy()`. */
  destroyServing(): void;
  /** Closed last: the buses and the cluster connection. */
  closeBackends(): Promise<void>;
  destroyBackends(): void;
}

/**
 * `close()` (graceful, idempotent) and `destroy()` (immediate, safe to call
 * twice and after `close()`), and whether the instance is draining.
 *
 * @example
 * const lifecycle = new Lifecycle(parts);
 * await lifecycle.close(); // second call returns the same promise
 */
export class Lifecycle {
  private closing: Promise<void> | undefined;
  private drainingNow = false;

  constructor(private readonly parts: LifecycleParts) {}

  get draining(): boolean {
    return this.drainingNow;
  }

  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  destroy(): void {
    const p = this.parts;
    this.drainingNow = true;
    p.destroyServing();
    p.registry.closeAll('shutdown');
    p.scheduler.stop();
    const server = p.httpServer();
    server?.closeAllConnections();
    server?.close();
    p.destroyBackends();
  }

  /**
   * The drain, in a fixed order: stop accepting (503, readiness off, no new
   * sockets), let in-flight requests finish within the grace period, send
   * every stream its final event with a `retry` hint, end the sessions, then
   * close what is left of the sockets.
   */
  private async drain(): Promise<void> {
    const p = this.parts;
    this.drainingNow = true;
    p.scheduler.drain();
    p.logger.info(
      { connections: p.registry.size, sessions: p.sessionCount(), in_flight: p.requests.active },
      'server.draining',
    );
    const server = p.httpServer();
    const serverClosed = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    if (!(await p.requests.idle(p.shutdownGraceMs))) {
      p.logger.warn({ in_flight: p.requests.active, grace_ms: p.shutdownGraceMs }, 'server.grace_expired');
    }
    // Streams first, so each gets its final event with reason `shutdown` before
    // the SDK's per-request exchanges and the sessions are torn down.
    p.registry.closeAll('shutdown');
    await p.closeServing();
    p.scheduler.stop();
    await p.closeBackends();
    if (server) {
      // Sockets kept alive after their last response become idle only once it
      // is flushed; sweep until the server reports closed, then force the rest.
      const sweep = setInterval(() => server.closeIdleConnections(), 20);
      const force = setTimeout(() => server.closeAllConnections(), 2_000);
      server.closeIdleConnections();
      await serverClosed;
      clearInterval(sweep);
      clearTimeout(force);
    }
    p.logger.info('server.closed');
  }
}
