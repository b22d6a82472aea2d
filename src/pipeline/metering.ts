import type { RequestId } from '@modelcontextprotocol/server';
import type { RequestOutcome } from '../observability/metrics.js';
import { cancelledRequestId, isRequest, isResponse } from '../protocol/json-rpc.js';
import type { PipelineHook } from './pipeline.js';

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
 * The metering hook: a request starts when the transport hands it to the
 * server and ends once the server's response is written (`ok` or `error`),
 * when the client cancels it, or `aborted` when the transport closes first.
 * Internal requests ({@link INTERNAL_REQUEST_PREFIX}) are not metered. A
 * request whose id is already in flight is not metered twice (the first one's
 * meter stays the one its answer ends).
 */
export function meteringHook(
  tracker: RequestTracker,
  /** Told of every request the client cancelled while it ran (for the `request.cancelled` log line). */
  onCancelled?: (cancelled: { sessionId: string | undefined; requestId: RequestId; method: string }) => void,
): PipelineHook {
  return (link) => {
    const pending = new Map<RequestId, { method: string; done: (outcome: Outcome) => void }>();
    const end = (id: RequestId, outcome: Outcome): string | undefined => {
      const entry = pending.get(id);
      if (entry === undefined) return undefined;
      pending.delete(id);
      entry.done(outcome);
      return entry.method;
    };
    return {
      inbound(message) {
        if (isRequest(message)) {
          if (!isInternal(message.id) && !pending.has(message.id))
            pending.set(message.id, { method: message.method, done: tracker.begin(message.method) });
          return undefined;
        }
        // A cancelled request gets no response; it ends here.
        const cancelled = cancelledRequestId(message);
        const method = cancelled === undefined ? undefined : end(cancelled, 'aborted');
        if (method !== undefined && cancelled !== undefined)
          onCancelled?.({ sessionId: link.sessionId, requestId: cancelled, method });
        return undefined;
      },
      sent(message) {
        // Ended once the response is written (or its write failed), so a drain never cuts it off.
        if (isResponse(message)) end(message.id, 'error' in message ? 'error' : 'ok');
      },
      closed() {
        for (const { done } of pending.values()) done('aborted');
        pending.clear();
      },
    };
  };
}
