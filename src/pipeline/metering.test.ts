import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { INTERNAL_REQUEST_PREFIX, meteringHook, RequestTracker } from './metering.js';
import { wrapTransport } from './pipeline.js';

class NullTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: Transport['onclose'];
  async start(): Promise<void> {}
  async send(_message: JSONRPCMessage): Promise<void> {}
  async close(): Promise<void> {
    this.onclose?.();
  }
}

function metered() {
  const seen: Array<{ method: string; outcome: string }> = [];
  const tracker = new RequestTracker({ request: (method, outcome) => void seen.push({ method, outcome }) });
  const inner = new NullTransport();
  const wrapped = wrapTransport(inner, [meteringHook(tracker)]);
  wrapped.onmessage = () => {};
  wrapped.onclose = () => {};
  const receive = (m: object) => inner.onmessage?.(m as JSONRPCMessage);
  const answer = (id: number | string) => wrapped.send({ jsonrpc: '2.0', id, result: {} } as JSONRPCMessage);
  return { tracker, seen, inner, receive, answer };
}

const request = (id: number | string, method = 'tools/call') => ({ jsonrpc: '2.0', id, method, params: {} });

describe('meteringHook', () => {
  it('meters a request from its arrival to its written answer', async () => {
    const m = metered();
    m.receive(request(1));
    expect(m.tracker.active).toBe(1);
    await m.answer(1);
    expect(m.tracker.active).toBe(0);
    expect(m.seen).toEqual([{ method: 'tools/call', outcome: 'ok' }]);
  });

  it('meters a repeated id once, so nothing stays in flight after its answers', async () => {
    const m = metered();
    m.receive(request(1));
    m.receive(request(1));
    await m.answer(1);
    await m.answer(1);
    expect(m.tracker.active).toBe(0);
    expect(await m.tracker.idle(0)).toBe(true);
  });

  it('ends a cancelled request as aborted, and what is left when the transport closes', async () => {
    const m = metered();
    m.receive(request(1));
    m.receive(request(2));
    m.receive({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 1 } });
    expect(m.tracker.active).toBe(1);
    await m.inner.close();
    expect(m.tracker.active).toBe(0);
    expect(m.seen.map((s) => s.outcome)).toEqual(['aborted', 'aborted']);
  });

  it('does not meter the internal requests of a handshake replay', () => {
    const m = metered();
    m.receive(request(`${INTERNAL_REQUEST_PREFIX}x`, 'initialize'));
    expect(m.tracker.active).toBe(0);
  });
});
