/**
 * Every POST endpoint mounted behind a body parser that reads the request
 * stream to the end and leaves no `req.body`: the request is answered at once
 * with 500 TETHER_ERR_HTTP_BODY_CONSUMED and a warning, never left hanging.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTether, type Tether } from '../../src/index.js';
import { within } from '../support/process.js';
import { openSeed, post, rpc, SEED_HEADERS } from '../support/rpc.js';
import { json, SseReader } from '../support/sse.js';
import { captureLogs, type LogLine } from '../support/tether.js';

/** Requests with this header go through the consuming parser; the others reach the tether untouched. */
const CONSUME = 'x-consume-body';

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A body parser that drains the stream and keeps nothing, as a misconfigured framework would. */
function consumingParser(tether: Tether) {
  return (req: IncomingMessage, res: Parameters<Tether['handler']>[1]) => {
    if (req.headers[CONSUME] === undefined) {
      tether.handler(req, res);
      return;
    }
    req.resume();
    req.once('end', () => tether.handler(req, res));
  };
}

async function start(): Promise<{ base: string; logs: LogLine[] }> {
  const { logger, logs } = captureLogs('warn');
  const tether = createTether({ logger });
  const server: Server = createServer(consumingParser(tether));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await tether.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, logs };
}

/** Asserts the answer is the registry's BODY_CONSUMED error and that it was logged for `path`. */
async function expectConsumed(answer: Promise<Response>, logs: LogLine[], path: string): Promise<void> {
  const res = await within(answer, 3_000, `the answer to POST ${path} whose body was consumed`);
  expect(res.status).toBe(500);
  const body = (await res.json()) as { error: { code: number; data: unknown } };
  expect(body.error).toMatchObject({ code: -32603, data: { code: 'TETHER_ERR_HTTP_BODY_CONSUMED' } });
  const warned = logs.filter((l) => l.msg === 'request.body_already_consumed');
  expect(warned).toEqual([expect.objectContaining({ method: 'POST', url: expect.stringContaining(path) })]);
}

describe('behind a body parser that leaves no req.body', () => {
  it('POST /mcp answers 500 BODY_CONSUMED', async () => {
    const { base, logs } = await start();
    const init = rpc(1, 'initialize', {
      protocolVersion: '2025-11-25',
      capabilities: {},
      clientInfo: { name: 'x', version: '1' },
    });
    await expectConsumed(post(new URL(`${base}/mcp`), init, { [CONSUME]: '1' }), logs, '/mcp');
  });

  it('POST /messages answers 500 BODY_CONSUMED', async () => {
    const { base, logs } = await start();
    const controller = new AbortController();
    cleanups.push(async () => controller.abort());
    const stream = await fetch(`${base}/sse`, {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    });
    const endpoint = await new SseReader(stream.body!).nextEvent('endpoint');
    const answer = fetch(new URL(endpoint.data!, base), {
      method: 'POST',
      headers: { 'content-type': 'application/json', [CONSUME]: '1' },
      body: JSON.stringify(rpc(1, 'ping')),
    });
    await expectConsumed(answer, logs, '/messages');
  });

  it('POST /mcp/sse (opening a stream) answers 500 BODY_CONSUMED', async () => {
    const { base, logs } = await start();
    const answer = fetch(`${base}/mcp/sse`, {
      method: 'POST',
      headers: { ...SEED_HEADERS, [CONSUME]: '1' },
      body: JSON.stringify(rpc(1, 'tools/list')),
    });
    await expectConsumed(answer, logs, '/mcp/sse');
  });

  it('POST /mcp/sse?connection_id (a follow-up) answers 500 BODY_CONSUMED and writes nothing on the stream', async () => {
    const { base, logs } = await start();
    const seed = await openSeed(base);
    cleanups.push(async () => seed.abort());
    const answer = fetch(`${base}/mcp/sse?connection_id=${seed.connectionId}`, {
      method: 'POST',
      headers: { ...SEED_HEADERS, [CONSUME]: '1' },
      body: JSON.stringify(rpc(1, 'tools/list')),
    });
    await expectConsumed(answer, logs, '/mcp/sse?connection_id=');
    // The stream stays usable: a follow-up that reaches the tether intact is answered on it.
    const ok = await fetch(`${base}/mcp/sse?connection_id=${seed.connectionId}`, {
      method: 'POST',
      headers: SEED_HEADERS,
      body: JSON.stringify(rpc('after', 'tools/list')),
    });
    expect(ok.status).toBe(202);
    const response = json<{ id: string }>(await seed.reader.nextEvent('response'));
    expect(response.id).toBe('after');
  });
});
