import { randomBytes } from 'node:crypto';

/** Handler for messages on one channel of a {@link ClusterBus}. */
export type BusHandler = (payload: unknown) => void;

/**
 * Messages between the nodes of a cluster. Channels are plain strings
 * (`stream:<streamId>`, `session:<sessionId>`, `listen`); payloads are JSON
 * values. Delivery is at most once and in publish order per publisher.
 */
export interface ClusterBus {
  /** This node's id, unique per process. */
  readonly nodeId: string;
  publish(channel: string, payload: unknown): Promise<void>;
  /** Resolves once the subscription is active; the returned function ends it (idempotent). */
  subscribe(channel: string, handler: BusHandler): Promise<() => void>;
}

/** A fresh node id: short, URL-safe, never containing `~` or `.`. */
export function newNodeId(): string {
  return `n${randomBytes(6).toString('hex')}`;
}

/**
 * Handlers per channel, shared by the in-process bus and the Redis bus's
 * local fan-out. A throwing handler does not stop delivery to the others.
 */
export class HandlerTable {
  private readonly channels = new Map<string, Set<BusHandler>>();

  constructor(private readonly onerror: (err: unknown) => void = () => {}) {}

  /** Adds a handler; true when it is the channel's first. */
  add(channel: string, handler: BusHandler): boolean {
    let set = this.channels.get(channel);
    const first = set === undefined;
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(handler);
    return first;
  }

  /** Removes a handler; true when the channel has none left. */
  remove(channel: string, handler: BusHandler): boolean {
    const set = this.channels.get(channel);
    if (!set?.delete(handler)) return false;
    if (set.size > 0) return false;
    this.channels.delete(channel);
    return true;
  }

  deliver(channel: string, payload: unknown): void {
    const set = this.channels.get(channel);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(payload);
      } catch (err) {
        this.onerror(err);
      }
    }
  }

  get channelCount(): number {
    return this.channels.size;
  }
}

/**
 * One process as a cluster of one: synchronous, in-order delivery.
 *
 * @example
 * const bus = new LocalBus();
 * const off = await bus.subscribe('x', (p) => console.log(p));
 * await bus.publish('x', { hello: 1 }); // logs synchronously
 * off();
 */
export class LocalBus implements ClusterBus {
  readonly nodeId = newNodeId();
  private readonly table: HandlerTable;

  constructor(onerror?: (err: unknown) => void) {
    this.table = new HandlerTable(onerror);
  }

  async publish(channel: string, payload: unknown): Promise<void> {
    this.table.deliver(channel, payload);
  }

  async subscribe(channel: string, handler: BusHandler): Promise<() => void> {
    this.table.add(channel, handler);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.table.remove(channel, handler);
    };
  }
}
