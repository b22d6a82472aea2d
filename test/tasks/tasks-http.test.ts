/**
 * The tasks extension over real HTTP on 127.0.0.1, with plain fetch: a tool
 * call becomes a task, is polled while working, and ends completed or
 * cancelled; each step is a separate request served by a fresh server
 * instance, so this also shows the store outliving them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { registerTaskTool, TASKS_EXTENSION_ID } from '../../src/index.js';
import { openRawSession, post, rpc } from '../support/rpc.js';
import { SseReader, type Wire } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';

let t: TestTether | undefined;

afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** Releases of the `hold` tool's runs, by label. */
const releases = new Map<string, () => void>();
let aborted: string[] = [];

async function start(): Promise<TestTether> {
  aborted = [];
  t = await startTether({
    setup(server) {
      registerTaskTool(
        server,
        'hold',
        { description: 'Waits until the test releases it', inputSchema: z.object({ label: z.string() }) },
        async ({ label }, task) => {
          await new Promise<void>((resolve, reject) => {
            releases.set(label, resolve);
            task.signal.addEventListener('abort', () => {
              aborted.push(label);
              reject(new Error('aborted'));
            });
          });
          return { content: [{ type: 'text', text: `released ${label}` }] };
        },
      );
      registerTaskTool(server, 'only_as_task', { taskSupport: 'required' }, async () => ({
        content: [{ type: 'text', text: 'ran' }],
      }));
    },
  });
  return t;
}

let nextId = 1;

/** One 2026-07-28 request over HTTP, as a client that declares the tasks extension (or not). */
async function call(
  method: string,
  params: Record<string, unknown>,
  declareTasks = true,
): Promise<{ status: number; message: Wire }> {
  const name = params.name ?? params.taskId;
  const res = await post(
    t!.mcpUrl,
    rpc(nextId++, method, {
      ...params,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'tasks-http', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': declareTasks
          ? { extensions: { [TASKS_EXTENSION_ID]: {} } }
          : {},
      },
    }),
    {
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': method,
      ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
    },
  );
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('text/event-stream')) {
    const sse = new SseReader(res.body!);
    const got = await sse.nextMessage();
    await sse.cancel();
    return { status: res.status, message: got!.message };
  }
  return { status: res.status, message: (await res.json()) as Wire };
}

async function taskOf(taskId: string): Promise<Record<string, unknown>> {
  const { status, message } = await call('tasks/get', { taskId });
  expect(status).toBe(200);
  expect(message.error).toBeUndefined();
  return message.result!;
}

async function until(taskId: string, status: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const task = await taskOf(taskId);
    if (task.status === status) return task;
    if (Date.now() > deadline)
      throw new Error(`task ${taskId} still ${String(task.status)}, wanted ${status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('tasks extension over HTTP', () => {
  it('create -> get (working) -> completed', async () => {
    await start();
    const created = await call('tools/call', { name: 'hold', arguments: { label: 'one' } });
    expect(created.status).toBe(200);
    const handle = created.message.result!;
    expect(handle).toMatchObject({ resultType: 'task', status: 'working' });
    expect(Object.keys(handle)).not.toContain('content');
    const taskId = handle.taskId as string;

    const working = await taskOf(taskId);
    expect(working).toMatchObject({ resultType: 'complete', taskId, status: 'working' });
    expect(working).not.toHaveProperty('result');

    releases.get('one')!();
    const done = await until(taskId, 'completed');
    expect(done.result).toEqual({ content: [{ type: 'text', text: 'released one' }] });
    expect(t!.logsOf('task.finished')).toHaveLength(1);
  });

  it('create -> get (working) -> cancelled, with the handler aborted', async () => {
    await start();
    const created = await call('tools/call', { name: 'hold', arguments: { label: 'two' } });
    const taskId = created.message.result!.taskId as string;
    expect((await taskOf(taskId)).status).toBe('working');

    const ack = await call('tasks/cancel', { taskId });
    expect(ack.status).toBe(200);
    expect(ack.message.result).toMatchObject({ resultType: 'complete' });
    expect(ack.message.result).not.toHaveProperty('status');
    expect(aborted).toEqual(['two']);
    const cancelled = await taskOf(taskId);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled).not.toHaveProperty('result');
  });

  it('answers -32021 (HTTP 400) without the extension, and -32602 for an unknown task', async () => {
    await start();
    const refused = await call('tools/call', { name: 'only_as_task', arguments: {} }, false);
    expect(refused.status).toBe(400);
    expect(refused.message.error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION_ID]: {} } } },
    });
    expect((await call('tasks/get', { taskId: 'nope' }, false)).message.error?.code).toBe(-32021);
    expect((await call('tasks/get', { taskId: 'nope' })).message.error?.code).toBe(-32602);

    // An optional task tool without the extension is an ordinary call.
    const sync = call('tools/call', { name: 'hold', arguments: { label: 'sync' } }, false);
    for (let i = 0; i < 100 && !releases.has('sync'); i++) await new Promise((r) => setTimeout(r, 10));
    releases.get('sync')!();
    expect((await sync).message.result).toMatchObject({
      resultType: 'complete',
      content: [{ type: 'text', text: 'released sync' }],
    });
  });

  it('leaves 2025-era sessions alone: no extension advertised, no tasks/* methods, tools run inline', async () => {
    await start();
    const init = await post(
      t!.mcpUrl,
      rpc(0, 'initialize', {
        protocolVersion: '2025-11-25',
        capabilities: {},
        clientInfo: { name: 'legacy', version: '1' },
      }),
    );
    const sse = new SseReader(init.body!);
    const initialized = (await sse.nextMessage())!.message;
    await sse.rest();
    const caps = (initialized.result as { capabilities: Record<string, unknown> }).capabilities;
    expect(caps).not.toHaveProperty('extensions');
    expect(caps).not.toHaveProperty('tasks');

    const session = await openRawSession(t!.mcpUrl);
    const get = await post(t!.mcpUrl, rpc(1, 'tasks/get', { taskId: 'x' }), session.headers);
    const answer = (await new SseReader(get.body!).nextMessage())!.message;
    expect(answer.error?.code).toBe(-32601);

    const called = await post(
      t!.mcpUrl,
      rpc(2, 'tools/call', { name: 'only_as_task', arguments: {} }),
      session.headers,
    );
    const result = (await new SseReader(called.body!).nextMessage())!.message;
    expect(result.result).toMatchObject({ content: [{ type: 'text', text: 'ran' }] });
  });
});
