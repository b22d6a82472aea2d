import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/server';
import { randomId } from '../../connection/ids.js';
import { INTERNAL_REQUEST_PREFIX } from '../../pipeline/metering.js';
import { isResponse } from '../../protocol/json-rpc.js';

/** How long an internal request may wait for the server's answer before the replay goes on. */
const INTERNAL_ANSWER_TIMEOUT_MS = 5_000;

/**
 * Brings a freshly connected server up to date with its session (one that
 * hibernated, or that another node created) by replaying the client's
 * `initialize`, `notifications/initialized` and last `logging/setLevel` as
 * internal requests, whose answers nobody receives: the transport hands each
 * outgoing message to {@link swallow} first.
 *
 * @example
 * await replay.run(initParams, logLevelParams, (m) => transport.onmessage?.(m));
 */
export class HandshakeReplay {
  /** The internal request in flight, whose answer nobody receives. */
  private waiting: { id: RequestId; done: () => void } | undefined;
  private ended = false;

  /** Whether an internal request waits for its answer (the server is not quiescent). */
  get active(): boolean {
    return this.waiting !== undefined;
  }

  async run(
    initParams: unknown,
    logLevelParams: unknown,
    deliver: (message: JSONRPCMessage) => void,
  ): Promise<void> {
    await this.request('initialize', initParams, deliver);
    if (this.ended) return;
    deliver({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
    if (logLevelParams !== undefined) await this.request('logging/setLevel', logLevelParams, deliver);
  }

  /** Whether `message` is the answer to the internal request in flight; it then goes nowhere. */
  swallow(message: JSONRPCMessage): boolean {
    if (!isResponse(message) || this.waiting?.id !== message.id) return false;
    this.answered();
    return true;
  }

  /** The session ended: a replay in flight finishes at once, and sends nothing more. */
  finish(): void {
    this.ended = true;
    this.answered();
  }

  private answered(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.done();
  }

  private request(
    method: string,
    params: unknown,
    deliver: (message: JSONRPCMessage) => void,
  ): Promise<void> {
    const id = `${INTERNAL_REQUEST_PREFIX}${randomId()}`;
    if (this.ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (this.waiting?.id === id) this.waiting = undefined;
        resolve();
      }, INTERNAL_ANSWER_TIMEOUT_MS);
      this.waiting = {
        id,
        done: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      deliver({ jsonrpc: '2.0', id, method, params } as JSONRPCMessage);
    });
  }
}
