import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, spawnNode } from '../support/process.js';

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawnNode(['src/cli/bin.ts', ...args], { tsx: true, env: { ...env, NO_COLOR: '1' } });
  return {
    child,
    exited: child.exited.then((e) => e.code),
    out: () => child.stdout(),
    err: () => child.stderr(),
    /** Resolves with the listening URL from the `server.listening` log line. */
    async listening(): Promise<string> {
      const line = await child.line((l) => l.includes('"server.listening"'), 20_000, 'server.listening');
      return (JSON.parse(line) as { url: string }).url;
    },
  };
}

afterEach(killAll);

async function toolNames(url: string): Promise<string[]> {
  const client = new Client({ name: 'cli-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
  try {
    return (await client.listTools()).tools.map((t) => t.name);
  } finally {
    await client.close();
  }
}

describe('mcp-tether serve: bad input exits 2 with one line', () => {
  it.each([
    [['serve', '--port', 'abc'], '--port: expected a whole number, got "abc"'],
    [['serve', '--ping-interval', '5 parsecs'], '--ping-interval: not a duration'],
    [['serve', '--no-such-flag'], "Unknown option '--no-such-flag'"],
    [['serve', '--port', '70000'], 'port must be at most 65535'],
    [['serve', '--log-level', 'loud'], 'logLevel must be one of'],
    [['serve', '--allowed-origins', 'not a url'], 'is not an origin'],
    [['serve', '--tools', 'test/cli/fixtures/missing.ts'], 'does not exist'],
    [['serve', '--tools', 'test/cli/fixtures/not-a-function.mjs'], 'must default-export a function'],
    [['serve', '--tools', 'README.md'], 'must be a .ts, .mts, .js or .mjs file'],
    [['launch'], 'unknown command "launch"'],
  ])('%j', async (args, message) => {
    const p = run(args);
    expect(await p.exited).toBe(2);
    const lines = p.err().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('mcp-tether: ');
    expect(lines[0]).toContain(message);
  });

  it('reads MCP_TETHER_* variables and rejects bad ones the same way', async () => {
    const p = run(['serve'], { MCP_TETHER_IDLE_TIMEOUT: 'soon' });
    expect(await p.exited).toBe(2);
    expect(p.err()).toContain('--idle-timeout: not a duration: "soon"');
  });
});

describe('mcp-tether serve', () => {
  it('serves the demo tools, then drains and exits 0 on SIGTERM', async () => {
    const p = run(['serve', '--port', '0']);
    const url = await p.listening();
    expect(await toolNames(url)).toEqual(['echo', 'add', 'server_time', 'countdown']);
    p.child.signal('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.out()).toContain('"server.closed"');
  });

  it('drains on SIGHUP as on SIGTERM: logged, exit 0', async () => {
    const p = run(['serve', '--port', '0']);
    await p.listening();
    process.kill(p.child.pid as number, 'SIGHUP');
    expect(await p.exited).toBe(0);
    const signalLine = p
      .out()
      .split('\n')
      .find((l) => l.includes('"server.signal_received"'));
    expect(JSON.parse(signalLine ?? '{}')).toMatchObject({ signal: 'SIGHUP' });
    expect(p.out()).toContain('"server.draining"');
    expect(p.out()).toContain('"server.closed"');
  });

  it('loads a TypeScript tools module', async () => {
    const p = run(['serve', '--tools', 'test/cli/fixtures/tools-greet.ts'], { MCP_TETHER_PORT: '0' });
    expect(await toolNames(await p.listening())).toEqual(['greet']);
  });

  it('loads an .mjs tools module', async () => {
    const p = run(['serve', '--port', '0', '--tools', 'test/cli/fixtures/tools-plain.mjs']);
    expect(await toolNames(await p.listening())).toEqual(['plain']);
  });

  it('prints usage for --help and exits 0', async () => {
    const p = run(['serve', '--help']);
    expect(await p.exited).toBe(0);
    expect(p.out()).toContain('--ping-interval <dur>');
  });
});
