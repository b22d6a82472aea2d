import type { Redis } from 'ioredis';
import { type BusHandler, type ClusterBus, HandlerTable } from './bus.js';

/**
 * A {@link ClusterBus} over Redis pub/sub: publishes on the command
 * connection, receives on a dedicated subscriber connection (ioredis
 * re-subscribes by itself after a reconnect). One Redis subscription per
 * channel however many local handlers listen on it.
 */
export class RedisBus implements ClusterBus {
  private readonly table: HandlerTable;

  constructor(
    readonly nodeId: string,
    private readonly command: Redis,
    private readonly subscriber: Redis,
    private readonly prefix: string,
    onerror: (err: unknown) => void,
  ) {
    this.table = new HandlerTable(onerror);
    subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const name = channel.toString().slice(this.prefix.length);
      let payload: unknown;
      try {
        payload = JSON.parse(message.toString());
      } catch (err) {
        onerror(err);
        return;
      }
      this.table.deliver(name, payload);
    });
  }

  async publish(channel: string, payload: unknown): Promise<void> {
    await this.command.publish(this.prefix + channel, JSON.stringify(payload));
  }

  async subscribe(channel: string, handler: BusHandler): Promise<() => void> {
    const first = this.table.add(channel, handler);
    if (first) {
      try {
        await this.subscriber.subscribe(this.prefix + channel);
      } catch (err) {
        this.table.remove(channel, handler);
        throw err;
      }
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (this.table.remove(channel, handler)) {
        this.subscriber.unsubscribe(this.prefix + channel).catch(() => {});
      }
    };
  }

  /** Channels this node listens on; for diagnostics. */
  get channelCount(): number {
    return this.table.channelCount;
  }
}
