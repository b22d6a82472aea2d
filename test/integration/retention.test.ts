import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEventStore } from '../../src/index.js';
import { FINISHED_STREAMS_KEPT } from '../../src/transport/streamable-http/logical-streams.js';
import { startTether, type TestTether } from '../support/tether.js';

let t: TestTether | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('event retention in a long session', () => {
  it('keeps the events of the last finished streams only, so memory does not grow with every call', async () => {
    const eventStore = new MemoryEventStore(1_000);
    t = await startTether({ eventStore });
    const client = new Client({ name: 'long', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(t.mcpUrl));
    for (let i = 0; i < FINISHED_STREAMS_KEPT + 20; i++) {
      const r = await client.callTool({ name: 'echo', arguments: { text: String(i) } });
      expect(r.content).toEqual([{ type: 'text', text: String(i) }]);
    }
    // Finished streams kept, plus at most the standalone stream and one still finishing.
    expect(eventStore.streamCount).toBeLessThanOrEqual(FINISHED_STREAMS_KEPT + 2);
    expect(eventStore.streamCount).toBeGreaterThanOrEqual(FINISHED_STREAMS_KEPT);
    await client.close();
  });
});
