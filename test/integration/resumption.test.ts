import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEventStore } from '../../src/index.js';
import { waitFor } from '../support/process.js';
import { getStream, openRawSession, post, type RawSession, rpc } from '../support/rpc.js';
import { SseReader, type Wire } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';
import { fixtureSetup, within } from './fixtures.js';

/** The in-memory store, recording every append so tests can see what the server produced and when. */
class RecordingEventStore extends MemoryEventStore {
  readonly appended: Array<{ streamId: string; eventId: string; message: JSONRPCMessage }> = [];

  override async append(streamId: string, message: JSONRPCMessage): Promise<string> {
    const eventId = await super.append(streamId, message);
    this.appended.push({ streamId, eventId, message });
    return eventId;
  }

  has(predicate: (m: Wire) => boolean): boolean {
    return this.appended.some((e) => predicate(e.message as unknown as Wire));
  }
}

const isProgress = (n: number) => (m: Wire) =>
  m.method === 'notifications/progress' && (m.params as { progress?: number } | undefined)?.progress === n;
const isResponseTo = (id: number) => (m: Wire) => m.id === id && ('result' in m || 'error' in m);

function countdownCall(id: number, seconds: number, progressToken: string): Wire {
  return rpc(id, 'tools/call', { name: 'countdown', arguments: { seconds }, _meta: { progressToken } });
}

function progressOf(message: Wire): { progress: unknown; total: unknown; progressToken: unknown } {
  const p = message.params as { progress?: unknown; total?: unknown; progressToken?: unknown };
  return { progress: p.progress, total: p.total, progressToken: p.progressToken };
}

let t: TestTether | undefined;
let store: RecordingEventStore;
const cleanups: Array<() => Promise<void> | void> = [];

async function start(retryMs = 1_000): Promise<TestTether> {
  store = new RecordingEventStore(1_000);
  t = await startTether({ setup: fixtureSetup, eventStore: store, retryMs });
  return t;
}

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await t?.close();
  t = undefined;
});

/** Starts `countdown` over POST and reads the priming event and the first progress event. */
async function startCountdown(
  tt: TestTether,
  session: RawSession,
  seconds: number,
): Promise<{ aborter: AbortController; sse: SseReader; streamId: string; firstProgressId: string }> {
  const aborter = new AbortController();
  const res = await post(tt.mcpUrl, countdownCall(7, seconds, 'tok-7'), session.headers, aborter.signal);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  expect(res.headers.get('mcp-session-id')).toBe(session.sessionId);
  const sse = new SseReader(res.body!);
  cleanups.push(() => sse.cancel());

  const priming = await sse.next();
  expect(priming?.data).toBe('');
  expect(priming?.retry).toBe(tt.tether.options.retryMs);
  const primingId = priming?.id ?? '';
  expect(primingId).toMatch(/\.0$/);
  const streamId = primingId.slice(0, -2);

  const first = await sse.nextMessage(3_000);
  expect(first?.id).toBe(`${streamId}.1`);
  expect(progressOf(first!.message)).toEqual({ progress: 1, total: seconds, progressToken: 'tok-7' });
  return { aborter, sse, streamId, firstProgressId: first!.id! };
}

describe('resumption after a dropped stream (raw HTTP)', () => {
  it('replays every event after Last-Event-ID once, in order, after the call finished while disconnected', async () => {
    const tt = await start();
    const session = await openRawSession(tt.mcpUrl);
    const { aborter, streamId, firstProgressId } = await startCountdown(tt, session, 3);

    aborter.abort();
    await waitFor(
      () =>
        tt
          .logsOf('connection.closed')
          .some((l) => l.reason === 'client_disconnect' && l.stream === 'response'),
      3_000,
      'the server to notice the dropped POST stream',
    );
    // A disconnect is not a cancellation: the call runs to its end with nobody listening.
    await waitFor(() => store.has(isResponseTo(7)), 5_000, 'the countdown result to be stored');
    expect(tt.tether.sessions.get(session.sessionId)).toBeDefined();

    const res = await getStream(tt.mcpUrl, session, firstProgressId);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const frames = await new SseReader(res.body!).rest(3_000);
    const messages = frames.filter((f) => f.data !== undefined && f.data !== '');
    expect(messages.map((f) => f.id)).toEqual([`${streamId}.2`, `${streamId}.3`, `${streamId}.4`]);
    const parsed = messages.map((f) => JSON.parse(f.data!) as Wire);
    expect(parsed.slice(0, 2).map(progressOf)).toEqual([
      { progress: 2, total: 3, progressToken: 'tok-7' },
      { progress: 3, total: 3, progressToken: 'tok-7' },
    ]);
    expect(parsed[2]).toEqual({
      jsonrpc: '2.0',
      id: 7,
      result: { content: [{ type: 'text', text: 'Countdown of 3s finished' }] },
    });
    // The resumed stream announces the reconnect delay before replaying.
    expect(frames[0]?.retry).toBe(tt.tether.options.retryMs);

    // The session is still usable afterwards.
    const echo = await post(
      tt.mcpUrl,
      rpc(8, 'tools/call', { name: 'echo', arguments: { text: 'still here' } }),
      session.headers,
    );
    const answer = await new SseReader(echo.body!).nextMessage();
    expect(answer?.message.result).toEqual({ content: [{ type: 'text', text: 'still here' }] });
  });

  it('a resumption while the call still runs replays what was missed, then delivers live events', async () => {
    const tt = await start();
    const session = await openRawSession(tt.mcpUrl);
    const { aborter, streamId, firstProgressId } = await startCountdown(tt, session, 3);

    aborter.abort();
    // Miss progress 2 while disconnected, then resume before progress 3 exists.
    await waitFor(() => store.has(isProgress(2)), 3_000, 'progress 2 to be stored');
    expect(store.has(isProgress(3))).toBe(false);

    const res = await getStream(tt.mcpUrl, session, firstProgressId);
    expect(res.status).toBe(200);
    const sse = new SseReader(res.body!);
    cleanups.push(() => sse.cancel());

    const replayed = await sse.nextMessage(2_000);
    expect(replayed?.id).toBe(`${streamId}.2`);
    expect(progressOf(replayed!.message)).toEqual({ progress: 2, total: 3, progressToken: 'tok-7' });
    expect(store.has(isProgress(3))).toBe(false);

    const live = await sse.nextMessage(3_000);
    expect(live?.id).toBe(`${streamId}.3`);
    expect(progressOf(live!.message)).toEqual({ progress: 3, total: 3, progressToken: 'tok-7' });
    const result = await sse.nextMessage(3_000);
    expect(result).toEqual({
      id: `${streamId}.4`,
      message: {
        jsonrpc: '2.0',
        id: 7,
        result: { content: [{ type: 'text', text: 'Countdown of 3s finished' }] },
      },
    });
    // The stream ends once its request is answered.
    expect(await sse.rest(2_000)).toEqual([]);
    await waitFor(
      () =>
        tt
          .logsOf('connection.closed')
          .some((l) => l.reason === 'completed' && l.session_id === session.sessionId),
      2_000,
      'the resumed stream to close as completed',
    );
  });

  it('a reconnect before the server noticed the drop takes over the stream without duplicates', async () => {
    const tt = await start();
    const session = await openRawSession(tt.mcpUrl);
    const { sse: original, streamId, firstProgressId } = await startCountdown(tt, session, 2);

    // Resume from the first progress event while the original connection is still open.
    const res = await getStream(tt.mcpUrl, session, firstProgressId);
    expect(res.status).toBe(200);
    const resumed = new SseReader(res.body!);
    cleanups.push(() => resumed.cancel());
    // The original stream is closed by the server (with a retry hint), not left dangling.
    const leftovers = await original.rest(3_000);
    expect(leftovers.filter((f) => f.data !== undefined && f.data !== '')).toEqual([]);

    const messages: Array<{ id: string | undefined; message: Wire }> = [];
    for (;;) {
      const m = await resumed.nextMessage(3_000);
      if (m === undefined) break;
      messages.push(m);
    }
    expect(messages.map((m) => m.id)).toEqual([`${streamId}.2`, `${streamId}.3`]);
    expect(progressOf(messages[0]!.message)).toEqual({ progress: 2, total: 2, progressToken: 'tok-7' });
    expect(messages[1]?.message.result).toEqual({
      content: [{ type: 'text', text: 'Countdown of 2s finished' }],
    });
  });

  it('server-initiated messages on the standalone GET stream survive a dropped GET', async () => {
    const tt = await start();
    const session = await openRawSession(tt.mcpUrl);
    const aborter = new AbortController();
    const get = await getStream(tt.mcpUrl, session, undefined, {}, aborter.signal);
    expect(get.status).toBe(200);
    const standalone = new SseReader(get.body!);
    cleanups.push(() => standalone.cancel());
    const priming = await standalone.next();
    expect(priming?.data).toBe('');
    const standaloneId = priming!.id!.slice(0, -2);

    const callAnnounce = async (id: number, text: string) => {
      const res = await post(
        tt.mcpUrl,
        rpc(id, 'tools/call', { name: 'announce', arguments: { text } }),
        session.headers,
      );
      const answer = await new SseReader(res.body!).nextMessage();
      expect(answer?.message.result).toEqual({ content: [{ type: 'text', text: `announced ${text}` }] });
    };

    await callAnnounce(1, 'one');
    const log1 = await standalone.nextMessage();
    const changed1 = await standalone.nextMessage();
    expect(log1).toEqual({
      id: `${standaloneId}.1`,
      message: {
        jsonrpc: '2.0',
        method: 'notifications/message',
        params: { level: 'notice', logger: 'announcer', data: 'announce: one' },
      },
    });
    expect(changed1).toEqual({
      id: `${standaloneId}.2`,
      message: { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
    });

    aborter.abort();
    await waitFor(
      () =>
        tt
          .logsOf('connection.closed')
          .some((l) => l.reason === 'client_disconnect' && l.stream === 'standalone'),
      3_000,
      'the server to notice the dropped GET stream',
    );
    await callAnnounce(2, 'two');

    const res = await getStream(tt.mcpUrl, session, changed1!.id);
    expect(res.status).toBe(200);
    const resumed = new SseReader(res.body!);
    cleanups.push(() => resumed.cancel());
    expect(await resumed.nextMessage()).toEqual({
      id: `${standaloneId}.3`,
      message: {
        jsonrpc: '2.0',
        method: 'notifications/message',
        params: { level: 'notice', logger: 'announcer', data: 'announce: two' },
      },
    });
    expect(await resumed.nextMessage()).toEqual({
      id: `${standaloneId}.4`,
      message: { jsonrpc: '2.0', method: 'notifications/tools/list_changed' },
    });
    // The resumed standalone stream stays open for live messages.
    await callAnnounce(3, 'three');
    expect((await resumed.nextMessage())?.id).toBe(`${standaloneId}.5`);
  });

  it('refuses a Last-Event-ID of another session with 400', async () => {
    const tt = await start();
    const a = await openRawSession(tt.mcpUrl);
    const b = await openRawSession(tt.mcpUrl);
    const res = await post(
      tt.mcpUrl,
      rpc(1, 'tools/call', { name: 'echo', arguments: { text: 'x' } }),
      a.headers,
    );
    const sse = new SseReader(res.body!);
    const priming = await sse.next();
    await sse.rest();
    const stolen = await getStream(tt.mcpUrl, b, priming!.id);
    expect(stolen.status).toBe(400);
    expect(await stolen.json()).toMatchObject({
      jsonrpc: '2.0',
      error: { code: -32000, data: { code: 'TETHER_ERR_SESSION_BAD_LAST_EVENT_ID' } },
      id: null,
    });
  });
});

/**
 * A fetch for the SDK client that cuts the response stream of the first
 * `tools/call` right after the event with id ending `.1`, the way a proxy
 * or a flaky network drops a connection.
 */
function cuttingFetch(cut: { done: boolean }): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const isCall =
      init?.method === 'POST' && typeof init.body === 'string' && init.body.includes('"tools/call"');
    if (!isCall || cut.done || res.body === null) return res;
    cut.done = true;
    const upstream = res.body.getReader();
    const decoder = new TextDecoder();
    let seen = '';
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await upstream.read();
        if (done) {
          controller.close();
          return;
        }
        controller.enqueue(value);
        seen += decoder.decode(value, { stream: true });
        if (/\nid: [^\n]+\.1\n/.test(`\n${seen}`) && seen.endsWith('\n\n')) {
          await upstream.cancel();
          controller.error(new TypeError('terminated: connection dropped by test'));
        }
      },
      cancel: () => upstream.cancel(),
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

describe('resumption by the SDK v1 client', () => {
  it('reconnects with Last-Event-ID after a dropped POST stream and gets every progress event once', async () => {
    const tt = await start(100);
    const cut = { done: false };
    const client = new V1Client({ name: 'v1-resume', version: '1.0.0' });
    const transport = new V1Transport(tt.mcpUrl, { fetch: cuttingFetch(cut) });
    cleanups.push(() => client.close());
    await client.connect(transport);

    const tokens: string[] = [];
    const progress: number[] = [];
    const result = await within(
      client.callTool({ name: 'countdown', arguments: { seconds: 3 } }, undefined, {
        onprogress: (p) => progress.push(p.progress),
        onresumptiontoken: (token) => tokens.push(token),
        timeout: 10_000,
      }),
      10_000,
      'countdown through a dropped stream',
    );
    expect(cut.done).toBe(true);
    expect(result).toEqual({ content: [{ type: 'text', text: 'Countdown of 3s finished' }] });
    expect(progress).toEqual([1, 2, 3]);
    // Tokens are the event ids: priming, progress 1 (then the drop), progress 2, 3 and the result after resuming.
    const streamId = tokens[0]!.slice(0, -2);
    expect(tokens).toEqual([0, 1, 2, 3, 4].map((n) => `${streamId}.${n}`));
    expect(
      tt
        .logsOf('connection.closed')
        .filter((l) => l.reason === 'client_disconnect' && l.stream === 'response'),
    ).toHaveLength(1);
  });
});
