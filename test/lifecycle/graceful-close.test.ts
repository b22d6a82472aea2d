import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { ACCEPT_BOTH, getHeaders, initSession, sessionHeaders, toolCall } from '../support/rpc.js';
import { messageOf, openStream, type StreamingResponse } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';
import { modernCountdown, recordingSetup } from './support/recording-setup.js';

const RETRY_HINT = { retry: 1_000, comments: [] };

interface RawResponse {
  status: number;
  head: string;
  body: string;
}

/**
 * A request whose head is only partly sent: the server counts the socket as
 * busy, so a draining server keeps it while refusing new sockets. `finish`
 * sends the rest and reads the whole response.
 */
async function partialRequest(
  port: number,
  startLine: string,
): Promise<(rest: string) => Promise<RawResponse>> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.on('error', () => {});
  socket.write(`${startLine}\r\nHost: 127.0.0.1:${port}\r\n`);
  let raw = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    raw += chunk;
  });
  return async (rest) => {
    socket.end(`Connection: close\r\n${rest}`);
    await once(socket, 'close');
    const split = raw.indexOf('\r\n\r\n');
    const head = raw.slice(0, split);
    return { status: Number(head.split(' ')[1]), head, body: raw.slice(split + 4) };
  };
}

/** The one `connection.closed` reason logged for each connection opened after `skip` log lines. */
function reasonsById(t: TestTether, skip = 0): Map<string, unknown[]> {
  const byId = new Map<string, unknown[]>();
  for (const l of t.logs.slice(skip)) {
    if (l.msg === 'connection.opened') byId.set(String(l.connection_id), []);
    if (l.msg === 'connection.closed') byId.get(String(l.connection_id))?.push(l.reason);
  }
  return byId;
}

describe('graceful close() with open streams', () => {
  let t: TestTether | undefined;
  const open: StreamingResponse[] = [];

  afterEach(async () => {
    for (const s of open.splice(0)) s.destroy();
    t?.tether.destroy();
    t = undefined;
  });

  it('refuses new work and reports not ready while an in-flight call finishes, then ends every stream still open with `shutdown` and a `retry:` hint', async () => {
    const recorder = recordingSetup();
    t = await startTether({ setup: recorder.setup, shutdownGraceMs: 5_000 });
    const port = Number(t.mcpUrl.port);
    const sessionId = await initSession(t.mcpUrl);
    const mark = t.logs.length;
    const standalone = await openStream(t.mcpUrl, { headers: getHeaders(sessionId) });
    const call = await openStream(t.mcpUrl, {
      headers: sessionHeaders(sessionId),
      body: toolCall('short', 'countdown', { seconds: 4, stepMs: 200 }, 'short'),
    });
    open.push(standalone, call);
    await call.until((text) => text.includes('notifications/progress'), 5_000, 'the call to be under way');
    const readyz = await partialRequest(port, 'GET /readyz HTTP/1.1');
    const mcpPost = await partialRequest(port, 'POST /mcp HTTP/1.1');

    const closing = t.tether.close();
    await waitFor(() => t!.logsOf('server.draining').length === 1, 2_000, 'the drain to start');

    const ready = await readyz('\r\n');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toEqual({ status: 'draining' });
    const body = JSON.stringify(toolCall('new', 'echo', { text: 'too late' }));
    const refused = await mcpPost(
      `Content-Type: application/json\r\nAccept: ${ACCEPT_BOTH}\r\nMcp-Session-Id: ${sessionId}\r\n` +
        `MCP-Protocol-Version: 2025-11-25\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(refused.status).toBe(503);
    expect(refused.head.toLowerCase()).toContain('retry-after: 1');
    // Both answers came while draining: the server has not finished closing.
    expect(t.logsOf('server.closed')).toEqual([]);
    const late = connect({ host: '127.0.0.1', port });
    const [err] = (await once(late, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');

    await closing;

    // The in-flight call was let finish and delivered its result.
    expect(recorder.runs[0]).toMatchObject({ finished: true, steps: 4, abortedAt: undefined });
    expect(await call.ended).toBe('end');
    expect(call.frames().map(messageOf).at(-1)).toMatchObject({ id: 'short', result: {} });
    // The stream that was still open got the hint and a clean end.
    expect(await standalone.ended).toBe('end');
    expect(standalone.frames().at(-1)).toEqual(RETRY_HINT);

    const reasons = reasonsById(t, mark);
    expect(reasons.size).toBe(2);
    for (const r of reasons.values()) expect(r).toHaveLength(1);
    expect([...reasons.values()].flat().sort()).toEqual(['completed', 'shutdown']);
    expect(t.logsOf('session.closed')).toMatchObject([{ session_id: sessionId, reason: 'shutdown' }]);
    expect(t.tether.registry.size).toBe(0);
  });

  it('2025-era streams still open after the grace period end with `shutdown` and a `retry:` hint', async () => {
    const recorder = recordingSetup();
    t = await startTether({ setup: recorder.setup, shutdownGraceMs: 300 });
    const sessionId = await initSession(t.mcpUrl);
    const mark = t.logs.length;
    const standalone = await openStream(t.mcpUrl, { headers: getHeaders(sessionId) });
    const call = await openStream(t.mcpUrl, {
      headers: sessionHeaders(sessionId),
      body: toolCall('long', 'countdown', { seconds: 60, stepMs: 100 }, 'long'),
    });
    open.push(standalone, call);
    await call.until((text) => text.includes('notifications/progress'), 5_000, 'the call to be under way');

    await t.tether.close();

    for (const s of [standalone, call]) {
      expect(await s.ended).toBe('end');
      expect(s.frames().at(-1)).toEqual(RETRY_HINT);
    }
    const reasons = reasonsById(t, mark);
    expect(reasons.size).toBe(2);
    expect([...reasons.values()]).toEqual([['shutdown'], ['shutdown']]);
    expect(t.logsOf('server.grace_expired')).toHaveLength(1);
    await waitFor(() => recorder.runs[0]?.abortedAt !== undefined, 2_000, 'the call to be aborted');
  });

  it('a 2026-07-28 response stream still open after the grace period ends with `shutdown` and a `retry:` hint', async () => {
    const recorder = recordingSetup();
    t = await startTether({ setup: recorder.setup, shutdownGraceMs: 300 });
    const call = await openStream(t.mcpUrl, modernCountdown(60, 100));
    open.push(call);
    await call.until((text) => text.includes('notifications/progress'), 5_000, 'the call to be under way');

    await t.tether.close();

    expect(await call.ended).toBe('end');
    expect(t.logsOf('connection.closed').map((l) => l.reason)).toEqual(['shutdown']);
    expect(call.frames().at(-1)).toEqual(RETRY_HINT);
  });
});
