import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema,
  type LoggingMessageNotification,
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_EVENTS_PER_STREAM, MemoryEventStore } from '../../src/index.js';
import { internalsOf } from '../../src/server/internals.js';
import type { LiveSession } from '../../src/transport/streamable-http/sessions.js';
import { waitFor } from '../support/process.js';
import { startTether, type TestTether } from '../support/tether.js';
import { fixtureSetup, within } from './fixtures.js';

/**
 * Sweeps run every 100 ms at this ping interval; a session hibernates after 1 s without work,
 * long enough that a busy machine's pause between two steps of a test does not send it to sleep.
 */
const PING_INTERVAL_MS = 500;
const HIBERNATE_AFTER_MS = 1_000;

/** Records which streams' events the session let go of. */
class WatchedEventStore extends MemoryEventStore {
  readonly deleted: string[] = [];
  override async deleteStream(streamId: string): Promise<void> {
    this.deleted.push(streamId);
    await super.deleteStream(streamId);
  }
}

let t: TestTether;
let events: WatchedEventStore;
let client: Client;
let logs: LoggingMessageNotification['params'][];
let listChanged: number;

beforeEach(async () => {
  events = new WatchedEventStore(DEFAULT_MAX_EVENTS_PER_STREAM);
  t = await startTether({
    eventStore: events,
    setup: fixtureSetup,
    pingIntervalMs: PING_INTERVAL_MS,
    hibernateAfterMs: HIBERNATE_AFTER_MS,
  });
  logs = [];
  listChanged = 0;
  client = new Client({ name: 'hibernation', version: '1.0.0' }, { capabilities: { elicitation: {} } });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params);
  });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    listChanged++;
  });
  await within(client.connect(new StreamableHTTPClientTransport(t.mcpUrl)), 5_000, 'connect');
  // The client opens its standalone GET stream right after the handshake.
  await waitFor(() => standalone() !== undefined, 5_000, 'standalone stream');
});

afterEach(async () => {
  await client.close().catch(() => {});
  await t.close();
});

function only(): LiveSession {
  const [session, ...rest] = [...internalsOf(t.tether).sessions.values()];
  if (!session || rest.length > 0) throw new Error(`expected one session, found ${t.tether.sessions.size}`);
  return session;
}

function standalone() {
  return [...t.tether.registry.values()].find((c) => c.kind === 'standalone');
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function hibernated(): Promise<void> {
  await waitFor(() => only().server === undefined, 5_000, 'the session to hibernate');
}

describe('session hibernation (2025-era sessions)', () => {
  it('answers initialize without building the session a server, and builds it for the first request', async () => {
    // The handshake and the GET stream did not need the session's own server.
    expect(only().server).toBeUndefined();
    expect(t.logsOf('session.woke')).toHaveLength(0);
    const capabilities = client.getServerCapabilities();
    expect(capabilities?.tools).toBeDefined();
    expect(client.getServerVersion()?.name).toBe('mcp-tether');

    const tools = await client.listTools();
    expect(tools.tools.map((tool) => tool.name)).toContain('confirm');
    expect(only().server).toBeDefined();
    expect(t.logsOf('session.woke')).toHaveLength(1);
    // The handshake was answered (and counted) once, by the shared server.
    expect(await metric('mcp_tether_requests_total{method="initialize"')).toBe(1);
  });

  it('lets an idle session go of its server, keeps its stream, and rebuilds it on the next request as it was', async () => {
    await client.setLoggingLevel('warning');
    await client.callTool({ name: 'log_twice', arguments: { text: 'before' } });
    await waitFor(() => logs.length === 1, 2_000, 'the warning');
    const stream = standalone();

    expect(events.deleted).toEqual([]);
    await hibernated();
    expect(t.tether.sessions.hibernating).toBe(1);
    // The finished response streams (initialize, setLevel, the call) are not kept past hibernation.
    expect(events.deleted.length).toBeGreaterThanOrEqual(3);
    expect(await metric('mcp_tether_sessions_hibernating')).toBe(1);
    expect(t.logsOf('session.hibernated')).toHaveLength(1);
    // The client's GET stream is untouched: same connection, still open.
    expect(standalone()).toBe(stream);
    expect(stream?.closed).toBe(false);

    const result = await within(
      client.callTool({ name: 'log_twice', arguments: { text: 'after' } }),
      5_000,
      'call after hibernation',
    );
    expect(result).toEqual({ content: [{ type: 'text', text: 'logged after' }] });
    // The rebuilt server still has the client's log level: no `info` line got through.
    await waitFor(() => logs.length === 2, 2_000, 'the second warning');
    expect(logs.map((l) => l.level)).toEqual(['warning', 'warning']);
    expect(only().server).toBeDefined();
    expect(t.tether.sessions.hibernating).toBe(0);
    // Built for the first request after initialize, then rebuilt after hibernating.
    expect(t.logsOf('session.woke')).toHaveLength(2);
    expect(standalone()).toBe(stream);
    // Replaying the handshake to the rebuilt server is not client traffic.
    expect(await metric('mcp_tether_requests_total{method="initialize"')).toBe(1);
  });

  it('passes server-wide list changes to sessions whether they hibernate or not', async () => {
    t.tether.notify.toolsChanged();
    await waitFor(() => listChanged === 1, 2_000, 'list change while awake');

    await hibernated();
    t.tether.notify.toolsChanged();
    await waitFor(() => listChanged === 2, 2_000, 'list change while hibernating');
    // Nothing was asked of the server: it stays asleep.
    expect(only().server).toBeUndefined();
  });

  it('does not hibernate while the server waits on the client or a call runs', async () => {
    let asked = 0;
    client.setRequestHandler(ElicitRequestSchema, async () => {
      asked++;
      // Answer long after the session would otherwise have hibernated.
      await new Promise((r) => setTimeout(r, 2 * HIBERNATE_AFTER_MS));
      return { action: 'accept', content: { confirmed: true, note: 'go' } };
    });
    const call = client.callTool({ name: 'confirm', arguments: { action: 'deploy' } });
    let sawHibernating = false;
    const session = only();
    const watch = setInterval(() => {
      if (session.server === undefined) sawHibernating = true;
    }, 20);
    try {
      const result = await within(call, 10_000, 'confirm');
      expect(asked).toBe(1);
      expect(result).toEqual({ content: [{ type: 'text', text: 'accept: {"confirmed":true,"note":"go"}' }] });
    } finally {
      clearInterval(watch);
    }
    expect(sawHibernating).toBe(false);

    // A running call keeps it awake too.
    const countdown = client.callTool({ name: 'countdown', arguments: { seconds: 1 } });
    const watch2 = setInterval(() => {
      if (session.server === undefined) sawHibernating = true;
    }, 20);
    try {
      await within(countdown, 5_000, 'countdown');
    } finally {
      clearInterval(watch2);
    }
    expect(sawHibernating).toBe(false);
    // Once idle, it goes to sleep.
    await hibernated();
  });

  it('ends a hibernating session on DELETE like any other', async () => {
    await hibernated();
    const session = only();
    const transport = (client as unknown as { transport: StreamableHTTPClientTransport }).transport;
    await transport.terminateSession();

    await waitFor(() => t.tether.sessions.size === 0, 2_000, 'session gone');
    expect(session.transport.closed).toBe(true);
    expect(t.tether.sessions.hibernating).toBe(0);
    await waitFor(() => standalone() === undefined, 2_000, 'stream closed');
    expect(t.logsOf('session.closed').map((l) => l.reason)).toEqual(['session_deleted']);
  });

  it('answers 500 when the setup fails to rebuild a server, and builds it on a later request once fixed', async () => {
    let broken = false;
    const t2 = await startTether({
      setup: (server, ctx) => {
        if (broken) throw new Error('setup is broken');
        return fixtureSetup(server, ctx);
      },
    });
    const c2 = new Client({ name: 'broken-setup', version: '1.0.0' });
    try {
      await within(c2.connect(new StreamableHTTPClientTransport(t2.mcpUrl)), 5_000, 'connect');
      broken = true;
      await expect(c2.listTools()).rejects.toThrow();
      expect(t2.logsOf('request.failed')).toHaveLength(1);
      expect(t2.tether.sessions.size).toBe(1);

      broken = false;
      const tools = await within(c2.listTools(), 5_000, 'tools/list once fixed');
      expect(tools.tools.map((tool) => tool.name)).toContain('echo');
    } finally {
      await c2.close().catch(() => {});
      await t2.close();
    }
  });

  it('answers 404 to a request whose session ends while its server is being rebuilt', async () => {
    let gate: Promise<void> | undefined;
    let open: () => void = () => {};
    const t2 = await startTether({
      setup: async (server, ctx) => {
        await gate;
        return fixtureSetup(server, ctx);
      },
    });
    const c2 = new Client({ name: 'ended-while-waking', version: '1.0.0' });
    try {
      await within(c2.connect(new StreamableHTTPClientTransport(t2.mcpUrl)), 5_000, 'connect');
      const [session] = [...internalsOf(t2.tether).sessions.values()];
      gate = new Promise((resolve) => {
        open = resolve;
      });
      const call = c2.listTools();
      // The rebuild waits on setup; the session ends meanwhile.
      await new Promise((r) => setTimeout(r, 50));
      expect(t2.logsOf('session.woke')).toHaveLength(0);
      await internalsOf(t2.tether).sessions.close(session!, 'session_deleted');
      open();
      await expect(call).rejects.toThrow(/404|not found/i);
      expect(t2.tether.sessions.size).toBe(0);
      expect(t2.tether.sessions.hibernating).toBe(0);
      await waitFor(() => t2.tether.registry.size === 0, 2_000, 'no stream left open');
    } finally {
      open();
      await c2.close().catch(() => {});
      await t2.close();
    }
  });
});
