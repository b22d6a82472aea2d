import type { JSONRPCMessage, Transport } from '@modelcontextprotocol/server';
import { describe, expect, it } from 'vitest';
import { type PipelineHook, wrapTransport } from './pipeline.js';

/** A transport that records what it is asked to send. */
class RecordingTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: Transport['onclose'];
  onerror?: Transport['onerror'];
  readonly sessionId = 'session-1';
  readonly sent: JSONRPCMessage[] = [];
  failNext = false;
  async start(): Promise<void> {}
  async send(message: JSONRPCMessage): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('socket gone');
    }
    this.sent.push(message);
  }
  async close(): Promise<void> {
    this.onclose?.();
  }
}

const request = (id: number, method = 'tools/call'): JSONRPCMessage =>
  ({ jsonrpc: '2.0', id, method, params: {} }) as JSONRPCMessage;
const response = (id: number): JSONRPCMessage => ({ jsonrpc: '2.0', id, result: {} }) as JSONRPCMessage;

/** A hook that writes what it sees into `trace` under `name`. */
function tracing(name: string, trace: string[]): PipelineHook {
  return () => ({
    inbound: (m) => void trace.push(`${name} in ${'id' in m ? m.id : ''}`),
    outbound: (m) => {
      trace.push(`${name} out ${'id' in m ? m.id : ''}`);
      return m;
    },
    sent: (m, ok) => void trace.push(`${name} sent ${'id' in m ? m.id : ''} ${ok}`),
    closed: () => void trace.push(`${name} closed`),
  });
}

describe('wrapTransport', () => {
  it('runs inbound hooks from the wire inwards and outbound hooks from the server outwards', async () => {
    const inner = new RecordingTransport();
    const trace: string[] = [];
    const wrapped = wrapTransport(inner, [tracing('outer', trace), tracing('inner', trace)]);
    const received: JSONRPCMessage[] = [];
    wrapped.onmessage = (m) => void received.push(m);
    inner.onmessage?.(request(1));
    await wrapped.send(response(1));
    expect(trace).toEqual([
      'outer in 1',
      'inner in 1',
      'inner out 1',
      'outer out 1',
      'outer sent 1 true',
      'inner sent 1 true',
    ]);
    expect(received).toEqual([request(1)]);
    expect(inner.sent).toEqual([response(1)]);
  });

  it('stops a message a hook consumes, and drops or replaces what a hook says', async () => {
    const inner = new RecordingTransport();
    const hook: PipelineHook = (link) => ({
      inbound: (m) => {
        if (!('id' in m) || m.id !== 2) return undefined;
        void link.send(response(2));
        return false;
      },
      outbound: (m) => ('id' in m && m.id === 3 ? undefined : 'id' in m && m.id === 4 ? response(40) : m),
    });
    const wrapped = wrapTransport(inner, [hook]);
    const received: JSONRPCMessage[] = [];
    wrapped.onmessage = (m) => void received.push(m);
    inner.onmessage?.(request(1));
    inner.onmessage?.(request(2));
    await wrapped.send(response(3));
    await wrapped.send(response(4));
    await new Promise((r) => setImmediate(r));
    expect(received).toEqual([request(1)]);
    expect(inner.sent).toEqual([response(2), response(40)]);
  });

  it('reports a failed send to sent() and rejects', async () => {
    const inner = new RecordingTransport();
    const trace: string[] = [];
    const wrapped = wrapTransport(inner, [tracing('only', trace)]);
    inner.failNext = true;
    await expect(wrapped.send(response(7))).rejects.toThrow('socket gone');
    expect(trace).toEqual(['only out 7', 'only sent 7 false']);
  });

  it("keeps the inner transport's identity and fields, and owns only send and the callback slots", () => {
    const inner = new RecordingTransport();
    const wrapped = wrapTransport(inner, [tracing('x', [])]);
    expect(wrapped).toBeInstanceOf(RecordingTransport);
    expect(wrapped.sessionId).toBe('session-1');
    expect(wrapped.send).not.toBe(inner.send);
    expect(Object.hasOwn(inner, 'send')).toBe(false);
    const onclose = () => {};
    wrapped.onclose = onclose;
    expect(wrapped.onclose).toBe(onclose);
    expect(inner.onclose).toBeTypeOf('function');
    expect(inner.onclose).not.toBe(onclose);
    wrapped.onclose = undefined;
    expect(inner.onclose).toBeUndefined();
  });

  it('tells every hook of the close once, then the server', async () => {
    const inner = new RecordingTransport();
    const trace: string[] = [];
    const wrapped = wrapTransport(inner, [tracing('a', trace), tracing('b', trace)]);
    wrapped.onclose = () => void trace.push('server closed');
    await inner.close();
    await inner.close();
    expect(trace).toEqual(['a closed', 'b closed', 'server closed', 'server closed']);
  });

  it('returns the transport itself when there are no hooks', () => {
    const inner = new RecordingTransport();
    expect(wrapTransport(inner, [])).toBe(inner);
  });
});
