import {
  type AuthInfo,
  createMcpHandler,
  inputRequired,
  type McpHttpHandler,
  type McpServer,
  ProtocolError,
  ProtocolErrorCode,
} from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { PipelinedServer } from '../pipeline/server.js';
import { TaskRuntime, type TaskRuntimeOptions } from './runtime.js';
import { registerTaskTool } from './tool.js';
import { TASKS_EXTENSION_ID } from './types.js';

/** A promise the test settles by hand. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const opened = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

type Json = Record<string, unknown>;
interface Answer {
  status: number;
  result?: Json;
  error?: { code: number; message: string; data?: unknown };
}

let handler: McpHttpHandler | undefined;
let runtime: TaskRuntime | undefined;
let nextId = 1;

afterEach(async () => {
  await runtime?.close();
  await handler?.close();
  handler = undefined;
  runtime = undefined;
});

/** An in-process 2026-07-28 endpoint whose per-request servers carry the task runtime. */
function serve(setup: (server: McpServer) => void, options: TaskRuntimeOptions = {}): TaskRuntime {
  const tasks = new TaskRuntime(options);
  runtime = tasks;
  handler = createMcpHandler(
    () => {
      const server = new PipelinedServer({ name: 'tasks-test', version: '1.0.0' });
      tasks.attach(server);
      setup(server);
      return server;
    },
    { legacy: 'reject', keepAliveMs: 0 },
  );
  return tasks;
}

async function rpc(
  method: string,
  params: Json,
  options: { tasks?: boolean; authInfo?: AuthInfo; caps?: Json } = {},
): Promise<Answer> {
  const caps = options.caps ?? {
    elicitation: {},
    roots: {},
    ...(options.tasks === false ? {} : { extensions: { [TASKS_EXTENSION_ID]: {} } }),
  };
  const body = {
    jsonrpc: '2.0',
    id: nextId++,
    method,
    params: {
      ...params,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'runtime-test', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': caps,
      },
    },
  };
  const name = typeof params.name === 'string' ? params.name : params.taskId;
  const res = await handler!.fetch(
    new Request('http://localhost/mcp', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': method,
        ...(typeof name === 'string' ? { 'mcp-name': name } : {}),
      },
      body: JSON.stringify(body),
    }),
    options.authInfo ? { authInfo: options.authInfo } : undefined,
  );
  const json = (await res.json()) as { result?: Json; error?: Answer['error'] };
  return { status: res.status, ...json };
}

async function getTask(taskId: string, options: { authInfo?: AuthInfo } = {}): Promise<Json> {
  const answer = await rpc('tasks/get', { taskId }, options);
  if (answer.error) throw new Error(`tasks/get: ${answer.error.code} ${answer.error.message}`);
  return answer.result!;
}

async function until(taskId: string, predicate: (task: Json) => boolean): Promise<Json> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const task = await getTask(taskId);
    if (predicate(task)) return task;
    if (Date.now() > deadline) throw new Error(`task ${taskId} stuck at ${JSON.stringify(task)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const text = (value: string) => ({ content: [{ type: 'text' as const, text: value }] });

describe('TaskRuntime state transitions', () => {
  it('working -> completed: a flat CreateTaskResult, then the result inlined by tasks/get', async () => {
    const release = gate();
    serve((server) => {
      registerTaskTool(server, 'job', { inputSchema: z.object({ n: z.number() }) }, async ({ n }) => {
        await release.opened;
        return text(`n=${n}`);
      });
    });
    const created = await rpc('tools/call', { name: 'job', arguments: { n: 7 } });
    expect(created.status).toBe(200);
    const task = created.result!;
    expect(task).toMatchObject({
      resultType: 'task',
      status: 'working',
      ttlMs: 3_600_000,
      pollIntervalMs: 1000,
    });
    expect(task).not.toHaveProperty('content');
    expect(task).not.toHaveProperty('task');
    expect(Date.parse(task.createdAt as string)).not.toBeNaN();
    const taskId = task.taskId as string;

    const working = await getTask(taskId);
    expect(working).toMatchObject({ resultType: 'complete', taskId, status: 'working' });
    expect(working).not.toHaveProperty('result');

    release.open();
    const done = await until(taskId, (t) => t.status === 'completed');
    expect(done.result).toEqual({ content: [{ type: 'text', text: 'n=7' }] });
    expect(done).not.toHaveProperty('error');
  });

  it('working -> input_required -> (partial answer) -> working -> completed', async () => {
    serve((server) => {
      registerTaskTool(server, 'ask', {}, async (_args, task) => {
        const [a, b] = await Promise.all([
          task.requestInput({ a: inputRequired.listRoots() }),
          task.requestInput({ b: inputRequired.listRoots() }),
        ]);
        return text(`${JSON.stringify(a)} ${JSON.stringify(b)}`);
      });
    });
    const { taskId } = (await rpc('tools/call', { name: 'ask', arguments: {} })).result as { taskId: string };
    const parked = await until(taskId, (t) => Object.keys((t.inputRequests as Json) ?? {}).length === 2);
    expect(parked.status).toBe('input_required');
    expect(parked.inputRequests).toEqual({ a: { method: 'roots/list' }, b: { method: 'roots/list' } });

    const ack = await rpc('tasks/update', {
      taskId,
      inputResponses: { a: { roots: [] }, stray: { roots: [] } },
    });
    expect(ack.result).toMatchObject({ resultType: 'complete' });
    expect(ack.result).not.toHaveProperty('status');
    const partial = await getTask(taskId);
    expect(partial.status).toBe('input_required');
    expect(Object.keys(partial.inputRequests as Json)).toEqual(['b']);

    await rpc('tasks/update', { taskId, inputResponses: { b: { roots: [{ uri: 'file:///b' }] } } });
    const done = await until(taskId, (t) => t.status === 'completed');
    expect((done.result as { content: Array<{ text: string }> }).content[0]?.text).toContain('file:///b');
  });

  it('working -> cancelled: the handler is aborted, a late result is ignored, cancel is idempotent', async () => {
    const release = gate();
    let aborted = false;
    serve((server) => {
      registerTaskTool(server, 'long', {}, async (_args, task) => {
        task.signal.addEventListener('abort', () => {
          aborted = true;
        });
        await release.opened;
        return text('too late');
      });
    });
    const { taskId } = (await rpc('tools/call', { name: 'long', arguments: {} })).result as {
      taskId: string;
    };
    const ack = await rpc('tasks/cancel', { taskId });
    expect(ack.result).toMatchObject({ resultType: 'complete' });
    expect(ack.result).not.toHaveProperty('taskId');
    expect(aborted).toBe(true);
    release.open();
    await new Promise((r) => setTimeout(r, 20));
    const after = await getTask(taskId);
    expect(after.status).toBe('cancelled');
    expect(after).not.toHaveProperty('result');
    expect((await rpc('tasks/cancel', { taskId })).result).toMatchObject({ resultType: 'complete' });
    expect(runtime!.running).toBe(0);
  });

  it('a protocol error fails the task; a tool error and a plain throw complete it with isError', async () => {
    serve((server) => {
      registerTaskTool(server, 'protocol', {}, async () => {
        throw new ProtocolError(ProtocolErrorCode.InternalError, 'backend exploded', { why: 'test' });
      });
      registerTaskTool(server, 'tool-error', {}, async () => ({ ...text('nope'), isError: true }));
      registerTaskTool(server, 'plain-throw', {}, async () => {
        throw new Error('plain failure');
      });
    });
    const start = async (name: string) =>
      ((await rpc('tools/call', { name, arguments: {} })).result as { taskId: string }).taskId;
    const terminal = (t: Json) => t.status !== 'working';

    const failed = await until(await start('protocol'), terminal);
    expect(failed).toMatchObject({ status: 'failed', error: { code: -32603, message: 'backend exploded' } });
    expect(failed).not.toHaveProperty('result');

    const toolError = await until(await start('tool-error'), terminal);
    expect(toolError).toMatchObject({ status: 'completed', result: { isError: true } });

    const thrown = await until(await start('plain-throw'), terminal);
    expect(thrown).toMatchObject({
      status: 'completed',
      result: { isError: true, content: [{ type: 'text', text: 'plain failure' }] },
    });
  });

  it('fails a task that asks for input the creating request did not declare it can give', async () => {
    serve((server) => {
      registerTaskTool(server, 'sample', {}, async (_args, task) => {
        await task.requestInput({
          s: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }],
            maxTokens: 5,
          }),
        });
        return text('unreachable');
      });
    });
    const caps = { extensions: { [TASKS_EXTENSION_ID]: {} } };
    const created = await rpc('tools/call', { name: 'sample', arguments: {} }, { caps });
    const taskId = (created.result as { taskId: string }).taskId;
    const failed = await until(taskId, (t) => t.status !== 'working');
    expect(failed).toMatchObject({
      status: 'failed',
      error: { code: -32021, data: { requiredCapabilities: { sampling: {} } } },
    });
    expect(failed).not.toHaveProperty('inputRequests');
  });

  it('close() stops every run and fails its task', async () => {
    let aborted = false;
    const tasks = serve((server) => {
      registerTaskTool(server, 'stuck', {}, async (_args, task) => {
        await new Promise((_resolve, reject) => {
          task.signal.addEventListener('abort', () => {
            aborted = true;
            reject(task.signal.reason);
          });
        });
        return text('never');
      });
    });
    const { taskId } = (await rpc('tools/call', { name: 'stuck', arguments: {} })).result as {
      taskId: string;
    };
    await tasks.close();
    expect(aborted).toBe(true);
    expect(await tasks.store.get(taskId)).toMatchObject({
      status: 'failed',
      error: { code: -32603, message: 'The server shut down before the task finished' },
    });
  });
});

describe('TaskRuntime negotiation and scoping', () => {
  it('refuses a required tool and the tasks/* methods with -32021 without the extension', async () => {
    let ran = false;
    serve((server) => {
      registerTaskTool(server, 'must', { taskSupport: 'required' }, async () => {
        ran = true;
        return text('ran');
      });
    });
    const refused = await rpc('tools/call', { name: 'must', arguments: {} }, { tasks: false });
    expect(refused.status).toBe(400);
    expect(refused.error).toMatchObject({
      code: -32021,
      data: { requiredCapabilities: { extensions: { [TASKS_EXTENSION_ID]: {} } } },
    });
    expect(ran).toBe(false);
    for (const method of ['tasks/get', 'tasks/update', 'tasks/cancel']) {
      const answer = await rpc(method, { taskId: 'whatever' }, { tasks: false });
      expect(answer.error?.code, method).toBe(-32021);
    }
    expect((await rpc('tasks/get', { taskId: 'unknown' })).error?.code).toBe(-32602);
    expect((await rpc('tasks/list', {})).error?.code).toBe(-32601);
    expect((await rpc('tasks/result', { taskId: 'unknown' })).error?.code).toBe(-32601);
  });

  it('runs an optional tool inside the request without the extension, asking for input by MRTR', async () => {
    serve((server) => {
      registerTaskTool(server, 'confirm', {}, async (_args, task) => {
        expect(task.mode).toBe('sync');
        const answers = await task.requestInput({ ok: inputRequired.listRoots() });
        return text(`answered ${JSON.stringify(answers.ok)}`);
      });
    });
    const first = await rpc(
      'tools/call',
      { name: 'confirm', arguments: {} },
      { tasks: false, caps: { roots: {} } },
    );
    expect(first.result).toMatchObject({
      resultType: 'input_required',
      inputRequests: { ok: { method: 'roots/list' } },
    });
    expect(first.result).not.toHaveProperty('taskId');
    const second = await rpc(
      'tools/call',
      { name: 'confirm', arguments: {}, inputResponses: { ok: { roots: [] } } },
      { caps: { roots: {} } },
    );
    expect(second.result).toMatchObject({
      resultType: 'complete',
      content: [{ text: 'answered {"roots":[]}' }],
    });
  });

  it('advertises the extension in server/discover, not as capabilities.tasks', async () => {
    serve(() => {});
    const discovered = await rpc('server/discover', {});
    const capabilities = discovered.result?.capabilities as Json;
    expect(capabilities.extensions).toEqual({ [TASKS_EXTENSION_ID]: {} });
    expect(capabilities).not.toHaveProperty('tasks');
  });

  it('binds a task to the caller that created it', async () => {
    serve((server) => {
      registerTaskTool(server, 'mine', {}, async () => text('secret'));
    });
    const alice: AuthInfo = { token: 'a', clientId: 'token:alice', scopes: [] };
    const bob: AuthInfo = { token: 'b', clientId: 'token:bob', scopes: [] };
    const { taskId } = (await rpc('tools/call', { name: 'mine', arguments: {} }, { authInfo: alice }))
      .result as { taskId: string };
    expect((await getTask(taskId, { authInfo: alice })).taskId).toBe(taskId);
    expect((await rpc('tasks/get', { taskId }, { authInfo: bob })).error?.code).toBe(-32602);
    expect((await rpc('tasks/cancel', { taskId }, { authInfo: bob })).error?.code).toBe(-32602);
    expect((await rpc('tasks/get', { taskId })).error?.code).toBe(-32602);
  });

  it('expires a task after its TTL and stops its run', async () => {
    let now = 1_000_000;
    let aborted = false;
    const tasks = serve(
      (server) => {
        registerTaskTool(server, 'forever', {}, async (_args, task) => {
          await new Promise<void>((resolve) => {
            task.signal.addEventListener('abort', () => {
              aborted = true;
              resolve();
            });
          });
          return text('stopped');
        });
      },
      { ttlMs: 1_000, now: () => now },
    );
    const { taskId, ttlMs } = (await rpc('tools/call', { name: 'forever', arguments: {} })).result as {
      taskId: string;
      ttlMs: number;
    };
    expect(ttlMs).toBe(1_000);
    now += 999;
    expect((await getTask(taskId)).status).toBe('working');
    now += 1;
    await tasks.sweep();
    expect(aborted).toBe(true);
    expect(tasks.running).toBe(0);
    expect((await rpc('tasks/get', { taskId })).error?.code).toBe(-32602);
  });
});
