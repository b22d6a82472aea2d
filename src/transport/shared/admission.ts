import type { ServerResponse } from 'node:http';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/server';
import { type ErrorCode, rpcErrorOf, sendError } from '../../errors.js';
import type { RefusalReason } from '../../observability/metrics.js';
import { isRequest } from '../../protocol/json-rpc.js';

/** The caps {@link RequestAdmission} enforces; `0` turns an in-flight cap off. */
export interface AdmissionLimits {
  readonly maxBatchSize: number;
  readonly maxRequestsInFlightPerSession: number;
  readonly maxRequestsInFlight: number;
}

export interface AdmissionDeps {
  limits: AdmissionLimits;
  /** Client requests the process is running now, over every transport. */
  inFlight(): number;
  /** Counts refused messages (the metrics). */
  refused(reason: RefusalReason, count: number): void;
}

/** What a POST's requests become: the answers for the refused ones, by request id. */
export type Refusals = ReadonlyMap<RequestId, JSONRPCMessage>;

const NO_REFUSALS: Refusals = new Map();

/**
 * The one place that decides how much work a POST may start: a batch over
 * `maxBatchSize` is refused whole; past the in-flight caps (per session, per
 * process) the excess requests of a batch are answered with an error while
 * the rest run. Every transport that takes client requests asks it.
 *
 * @example
 * if (admission.batchTooLarge(messages.length)) return sendError(res, 'TETHER_ERR_RPC_BATCH_TOO_LARGE');
 * const refusals = admission.admit(messages, session.transport.pendingRequests);
 */
export class RequestAdmission {
  constructor(private readonly deps: AdmissionDeps) {}

  get maxBatchSize(): number {
    return this.deps.limits.maxBatchSize;
  }

  /** Whether a POST of `count` messages is refused whole (and counts it if so). */
  batchTooLarge(count: number): boolean {
    if (count <= this.deps.limits.maxBatchSize) return false;
    this.deps.refused('batch_too_large', count);
    return true;
  }

  /** Answers a POST over the batch cap with 400 (and counts it); returns whether it did. */
  refuseBatch(res: ServerResponse, messages: readonly JSONRPCMessage[]): boolean {
    if (!this.batchTooLarge(messages.length)) return false;
    sendError(res, 'TETHER_ERR_RPC_BATCH_TOO_LARGE', {
      detail: `Invalid Request: batch too large (${messages.length} messages; the limit is ${this.maxBatchSize})`,
    });
    return true;
  }

  /**
   * Admits a POST's requests in order while both caps have room; returns the
   * error answers of the rest. Notifications, responses and pings always
   * pass: they start no work that runs on, and a busy client can still check
   * the server is alive.
   */
  admit(messages: readonly JSONRPCMessage[], sessionInFlight: number): Refusals {
    const { maxRequestsInFlightPerSession: perSession, maxRequestsInFlight: perServer } = this.deps.limits;
    let sessionRoom = perSession > 0 ? perSession - sessionInFlight : Number.POSITIVE_INFINITY;
    let serverRoom = perServer > 0 ? perServer - this.deps.inFlight() : Number.POSITIVE_INFINITY;
    let refusals: Map<RequestId, JSONRPCMessage> | undefined;
    const counts = { session_busy: 0, server_busy: 0 };
    for (const message of messages) {
      if (!isRequest(message) || message.method === 'ping') continue;
      const code: ErrorCode | undefined =
        serverRoom <= 0
          ? 'TETHER_ERR_RPC_SERVER_BUSY'
          : sessionRoom <= 0
            ? 'TETHER_ERR_RPC_SESSION_BUSY'
            : undefined;
      if (code === undefined) {
        sessionRoom--;
        serverRoom--;
        continue;
      }
      refusals ??= new Map();
      refusals.set(message.id, rpcErrorOf(code, { id: message.id, tagged: true }));
      counts[code === 'TETHER_ERR_RPC_SERVER_BUSY' ? 'server_busy' : 'session_busy']++;
    }
    if (counts.server_busy > 0) this.deps.refused('server_busy', counts.server_busy);
    if (counts.session_busy > 0) this.deps.refused('session_busy', counts.session_busy);
    return refusals ?? NO_REFUSALS;
  }
}

/**
 * The first request id a POST repeats, within itself or of a request still
 * running (`isPending`): two answers with one id could not be told apart, and
 * the second would be taken for the first's. Such a POST is refused whole.
 *
 * @example
 * repeatedRequestId([rpc(1, 'ping'), rpc(1, 'ping')], () => false); // 1
 */
export function repeatedRequestId(
  messages: readonly JSONRPCMessage[],
  isPending: (id: RequestId) => boolean,
): RequestId | undefined {
  const seen = new Set<RequestId>();
  for (const m of messages) {
    if (!isRequest(m)) continue;
    if (seen.has(m.id) || isPending(m.id)) return m.id;
    seen.add(m.id);
  }
  return undefined;
}
