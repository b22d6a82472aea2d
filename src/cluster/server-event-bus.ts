import { InMemoryServerEventBus, type ServerEvent, type ServerEventBus } from '@modelcontextprotocol/server';
import type { ClusterBus } from './bus.js';

const CHANNEL = 'listen';

/**
 * The `subscriptions/listen` event bus across nodes: a publish goes out on
 * the cluster bus's `listen` channel, and every node (the publisher too)
 * hands what it receives to its local listeners.
 */
export class ClusterServerEventBus implements ServerEventBus {
  private readonly local: InMemoryServerEventBus;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly bus: ClusterBus,
    private readonly onerror: (error: Error) => void,
  ) {
    this.local = new InMemoryServerEventBus(onerror);
  }

  /** Joins the cluster channel; call once before serving. */
  async start(): Promise<void> {
    this.unsubscribe ??= await this.bus.subscribe(CHANNEL, (payload) =>
      this.local.publish(payload as ServerEvent),
    );
  }

  publish(event: ServerEvent): void {
    this.bus.publish(CHANNEL, event).catch((err: unknown) => this.onerror(err as Error));
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    return this.local.subscribe(listener);
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
