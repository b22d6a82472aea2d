import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import type { RefusalReason } from '../../observability/metrics.js';
import { type AdmissionLimits, RequestAdmission } from './admission.js';

const request = (id: number): JSONRPCMessage => ({ jsonrpc: '2.0', id, method: 'tools/call' });
const notification: JSONRPCMessage = { jsonrpc: '2.0', method: 'notifications/cancelled' };

function admission(limits: Partial<AdmissionLimits>, inFlight = 0) {
  const refused: Array<[RefusalReason, number]> = [];
  const a = new RequestAdmission({
    limits: { maxBatchSize: 100, maxRequestsInFlightPerSession: 0, maxRequestsInFlight: 0, ...limits },
    inFlight: () => inFlight,
    refused: (reason, count) => refused.push([reason, count]),
  });
  return { a, refused };
}

const codeOf = (m: JSONRPCMessage | undefined) =>
  (m as { error?: { data?: { code?: string } } } | undefined)?.error?.data?.code;

describe('RequestAdmission', () => {
  it('refuses a batch over the cap whole and counts its messages', () => {
    const { a, refused } = admission({ maxBatchSize: 3 });
    expect(a.batchTooLarge(3)).toBe(false);
    expect(a.batchTooLarge(4)).toBe(true);
    expect(refused).toEqual([['batch_too_large', 4]]);
  });

  it('admits requests in order while the session has room; notifications and pings always pass', () => {
    const { a, refused } = admission({ maxRequestsInFlightPerSession: 3 });
    const ping: JSONRPCMessage = { jsonrpc: '2.0', id: 9, method: 'ping' };
    const refusals = a.admit([request(1), notification, request(2), ping, request(3)], 1);
    expect([...refusals.keys()]).toEqual([3]);
    expect(codeOf(refusals.get(3))).toBe('TETHER_ERR_RPC_SESSION_BUSY');
    expect(refused).toEqual([['session_busy', 1]]);
  });

  it('the process cap wins over the session cap, and 0 turns a cap off', () => {
    const { a, refused } = admission({ maxRequestsInFlightPerSession: 10, maxRequestsInFlight: 5 }, 4);
    const refusals = a.admit([request(1), request(2), request(3)], 0);
    expect([...refusals].map(([id, m]) => [id, codeOf(m)])).toEqual([
      [2, 'TETHER_ERR_RPC_SERVER_BUSY'],
      [3, 'TETHER_ERR_RPC_SERVER_BUSY'],
    ]);
    expect(refused).toEqual([['server_busy', 2]]);
    expect(admission({}, 1_000_000).a.admit([request(1)], 1_000_000).size).toBe(0);
  });
});
