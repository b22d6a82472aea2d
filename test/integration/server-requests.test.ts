import {
  Client as V2Client,
  StreamableHTTPClientTransport as V2Transport,
} from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTether, type TestTether } from '../support/tether.js';
import { fixtureSetup, within } from './fixtures.js';

let t: TestTether;
const closers: Array<() => Promise<unknown>> = [];

beforeEach(async () => {
  t = await startTether({ setup: fixtureSetup });
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close().catch(() => {});
  await t.close();
});

interface Seen {
  sampling: unknown[];
  elicitation: unknown[];
}

/** Strips the per-result `_meta` of the 2026-07-28 era. */
function content(result: { content?: unknown }): unknown {
  return result.content;
}

describe('server-to-client requests during a tool call, 2025-11-25 era', () => {
  it('SDK v1: sampling/createMessage and elicitation/create round trips on the POST stream', async () => {
    const seen: Seen = { sampling: [], elicitation: [] };
    const client = new V1Client(
      { name: 'v1-requests', version: '1.0.0' },
      { capabilities: { sampling: {}, elicitation: {} } },
    );
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      seen.sampling.push(req.params);
      return { model: 'test-model-1', role: 'assistant', content: { type: 'text', text: 'forty-two' } };
    });
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      seen.elicitation.push(req.params);
      return { action: 'accept', content: { confirmed: true, note: 'go ahead' } };
    });
    closers.push(() => client.close());
    await within(client.connect(new V1Transport(t.mcpUrl)), 5_000, 'v1 connect');

    const sampled = await within(
      client.callTool({ name: 'ask_model', arguments: { question: 'meaning of life?' } }),
      5_000,
      'ask_model',
    );
    expect(sampled).toEqual({ content: [{ type: 'text', text: 'model test-model-1 said: forty-two' }] });
    expect(seen.sampling).toEqual([
      { messages: [{ role: 'user', content: { type: 'text', text: 'meaning of life?' } }], maxTokens: 50 },
    ]);

    const confirmed = await within(
      client.callTool({ name: 'confirm', arguments: { action: 'deploy' } }),
      5_000,
      'confirm',
    );
    expect(confirmed).toEqual({
      content: [{ type: 'text', text: 'accept: {"confirmed":true,"note":"go ahead"}' }],
    });
    expect(seen.elicitation).toMatchObject([
      { message: 'Really deploy?', requestedSchema: { type: 'object' } },
    ]);
  });

  it('SDK v2 (legacy era): sampling and elicitation round trips, including a declined elicitation', async () => {
    const seen: Seen = { sampling: [], elicitation: [] };
    let decline = false;
    const client = new V2Client(
      { name: 'v2-legacy-requests', version: '1.0.0' },
      { versionNegotiation: { mode: 'legacy' }, capabilities: { sampling: {}, elicitation: { form: {} } } },
    );
    client.setRequestHandler('sampling/createMessage', async (req) => {
      seen.sampling.push(req.params);
      return { model: 'test-model-2', role: 'assistant', content: { type: 'text', text: 'blue' } };
    });
    client.setRequestHandler('elicitation/create', async (req) => {
      seen.elicitation.push(req.params);
      return decline
        ? { action: 'decline' }
        : { action: 'accept', content: { confirmed: false, note: 'wait' } };
    });
    closers.push(() => client.close());
    const transport = new V2Transport(t.mcpUrl);
    await within(client.connect(transport), 5_000, 'v2 connect');
    expect(transport.protocolVersion).toBe('2025-11-25');

    const sampled = await within(
      client.callTool({ name: 'ask_model', arguments: { question: 'sky?' } }),
      5_000,
      'ask',
    );
    expect(content(sampled)).toEqual([{ type: 'text', text: 'model test-model-2 said: blue' }]);
    expect(seen.sampling).toHaveLength(1);

    const accepted = await within(
      client.callTool({ name: 'confirm', arguments: { action: 'merge' } }),
      5_000,
      'confirm',
    );
    expect(content(accepted)).toEqual([{ type: 'text', text: 'accept: {"confirmed":false,"note":"wait"}' }]);
    decline = true;
    const declined = await within(
      client.callTool({ name: 'confirm', arguments: { action: 'drop' } }),
      5_000,
      'decline',
    );
    expect(content(declined)).toEqual([{ type: 'text', text: 'decline: null' }]);
    expect(seen.elicitation).toMatchObject([{ message: 'Really merge?' }, { message: 'Really drop?' }]);
  });

  it('a client without the sampling capability gets a tool error, and the session keeps working', async () => {
    const client = new V2Client(
      { name: 'v2-no-caps', version: '1.0.0' },
      { versionNegotiation: { mode: 'legacy' } },
    );
    closers.push(() => client.close());
    await within(client.connect(new V2Transport(t.mcpUrl)), 5_000, 'v2 connect');
    const result = await within(
      client.callTool({ name: 'ask_model', arguments: { question: 'x' } }),
      5_000,
      'ask',
    );
    expect(result.isError).toBe(true);
    expect(content(await client.callTool({ name: 'echo', arguments: { text: 'ok' } }))).toEqual([
      { type: 'text', text: 'ok' },
    ]);
  });
});

describe('client input during a tool call, 2026-07-28 era (multi-round-trip input_required)', () => {
  it('SDK v2 fulfils input_required sampling and elicitation transparently with its handlers', async () => {
    const seen: Seen = { sampling: [], elicitation: [] };
    const client = new V2Client(
      { name: 'v2-modern-mrtr', version: '1.0.0' },
      {
        versionNegotiation: { mode: { pin: '2026-07-28' } },
        capabilities: { sampling: {}, elicitation: { form: {} } },
      },
    );
    client.setRequestHandler('sampling/createMessage', async (req) => {
      seen.sampling.push(req.params);
      return { model: 'test-model-3', role: 'assistant', content: { type: 'text', text: 'green' } };
    });
    client.setRequestHandler('elicitation/create', async (req) => {
      seen.elicitation.push(req.params);
      return { action: 'accept', content: { confirmed: true, note: 'modern' } };
    });
    closers.push(() => client.close());
    const transport = new V2Transport(t.mcpUrl);
    await within(client.connect(transport), 5_000, 'v2 modern connect');
    expect(transport.protocolVersion).toBe('2026-07-28');

    const sampled = await within(
      client.callTool({ name: 'ask_model', arguments: { question: 'grass?' } }),
      5_000,
      'ask',
    );
    expect(content(sampled)).toEqual([{ type: 'text', text: 'model test-model-3 said: green' }]);
    expect(seen.sampling).toMatchObject([
      { messages: [{ role: 'user', content: { type: 'text', text: 'grass?' } }] },
    ]);

    const confirmed = await within(
      client.callTool({ name: 'confirm', arguments: { action: 'ship' } }),
      5_000,
      'confirm',
    );
    expect(content(confirmed)).toEqual([
      { type: 'text', text: 'accept: {"confirmed":true,"note":"modern"}' },
    ]);
    expect(seen.elicitation).toMatchObject([{ message: 'Really ship?' }]);
    // Stateless: each round is its own request, no session is created.
    expect(t.tether.sessions.size).toBe(0);
  });
});
