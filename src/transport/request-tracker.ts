import type { RequestId, Transport } from '@modelcontextprotocol/server';
import type { RequestOutcome } from '../observability/metrics.js';
import { isRequest, isResponse } from './sse-frames.js';

/** What the tracker reports a finished request to (the metrics). */
export interface RequestSink {
  request(method: string, outcome: RequestOutcome, seconds: number): void;
}

/**
 * Counts JSON-RPC requests in flight across every transport, reports each
 * finished one with its duration and outcome, and tells a draining server
 * when the last one has finished.
 *
 * @example
 * const done = tracker.begin('tools/call');
 * // ... later, exactly once:
 * done('ok');
 */
export class RequestTracker {
  private inFlight = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly sink: RequestSink) {}

  get active(): number {
    return this.inFlight;
  }

  /** Starts a request; the returned function ends it (later calls are ignored). */
  begin(method: string): (outcome: RequestOutcome) => void {
    const started = performance.now();
    this.inFlight++;
    let ended = false;
    return (outcome) => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      this.sink.request(method, outcome, (performance.now() - started) / 1000);
      if (this.inFlight === 0) for (const w of this.waiters.splice(0)) w();
    };
  }

  /** Resolves true once nothing is in flight, or false when `timeoutMs` passes first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }
}

type Outcome = Parameters<ReturnType<RequestTracker['begin']>>[0];

/** Ids of the requests a session replays to its own server when rebuilding it. */
export const INTERNAL_REQUEST_PREFIX = 'tether-internal-';

/** A session replaying its client's handshake to a rebuilt server is not client traffic. */
function isInternal(id: RequestId): boolean {
  return typeof id === 'string' && id.startsWith(INTERNAL_REQUEST_PREFIX);
}

/**
 * Meters every request that passes through a connected SDK transport: the
 * request starts when the transport hands it to the SDK and ends when the
 * SDK sends its response (`ok` or `error`), or `aborted` if the transport
 * closes first. Wraps the callbacks the SDK installed on `connect()`, so it
 * works for every transport without touching them. Internal requests
 * ({@link INTERNAL_REQUEST_PREFIX}) are not metered.
 */
export function meterTransport(transport: Transport, tracker: RequestTracker): void {
  const pending = new Map<RequestId, (outcome: Outcome) => void>();
  const inbound = transport.onmessage;
  const send = transport.send.bind(transport);
  const onclose = transport.onclose;
  transport.onmessage = (message, extra) => {
    if (isRequest(message) && !isInternal(message.id)) pending.set(message.id, tracker.begin(message.method));
    else if ('method' in message && message.method === 'notifications/cancelled') {
      // A cancelled request gets no response; it ends here.
      const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
      const done = id === undefined ? undefined : pending.get(id);
      if (done && id !== undefined) {
        pending.delete(id);
        done('aborted');
      }
    }
    inbound?.(message, extra);
  };
  transport.send = async (message, options) => {
    const id = isResponse(message) ? message.id : undefined;
    const done = id === undefined ? undefined : pending.get(id);
    if (!done || id === undefined) return send(message, options);
    pending.delete(id);
    // Ended once the response is written, so a drain never cuts it off.
    try {
      await send(message, options);
    } finally {
      done('error' in message ? 'error' : 'ok');
    }
  };
  transport.onclose = () => {
    for (const done of pending.values()) done('aborted');
    pending.clear();
    onclose?.();
  };
}
