import type { McpServer } from '@modelcontextprotocol/server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { registerDemoTools } from '../../src/index.js';
import { waitFor } from '../support/process.js';
import { startTether, type TestTether } from '../support/tether.js';
import {
  expectAtLeast,
  expectText,
  launchChromium,
  openPage,
  screenshot,
  type TestBrowser,
  type WatchedPage,
} from './support/browser.js';
import { type PageTransport, TestPage } from './support/test-page.js';

/** Short enough that every stream sees several pings within a test. */
const PING_INTERVAL_MS = 300;
const TOKEN = 'browser-suite-token-0123456789';
/** A 1×1 PNG, to see an image result rendered. */
const PIXEL_PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

/** Demo tools plus two that exercise the generated form and the result view. */
function setup(server: McpServer): void {
  registerDemoTools(server);
  server.registerTool(
    'form_probe',
    {
      description: 'Echoes its arguments as JSON, with an image.',
      inputSchema: z.object({
        mode: z.enum(['fast', 'slow']).describe('How to run'),
        loud: z.boolean(),
        count: z.number().int().min(1).max(5),
        note: z.string().optional(),
        tags: z.array(z.string()).optional(),
      }),
    },
    async (args) => ({
      content: [
        { type: 'text', text: JSON.stringify(args) },
        { type: 'image', data: PIXEL_PNG, mimeType: 'image/png' },
      ],
    }),
  );
  server.registerTool('always_fails', { description: 'Reports a tool error.' }, async () => ({
    content: [{ type: 'text', text: 'the tool failed on purpose' }],
    isError: true,
  }));
}

interface Case extends PageTransport {
  name: string;
  slug: string;
  /** The close reason the page shows after Disconnect. */
  disconnectReason: string;
  /** Whether an idle connection holds a stream (and so gets pings before any call). */
  idleStream: boolean;
  idLabel: string;
}

const CASES: Case[] = [
  {
    name: 'Streamable HTTP, 2025-era session',
    slug: 'streamable-2025',
    transport: 'streamable',
    revision: 'legacy',
    disconnectReason: 'session_deleted',
    idleStream: true,
    idLabel: 'Session id',
  },
  {
    name: 'Streamable HTTP, 2026-07-28',
    slug: 'streamable-2026',
    transport: 'streamable',
    revision: '2026-07-28',
    disconnectReason: 'client_disconnect',
    idleStream: false,
    idLabel: 'Session id',
  },
  {
    name: 'legacy SSE',
    slug: 'http-sse',
    transport: 'legacy',
    disconnectReason: 'client_disconnect',
    idleStream: true,
    idLabel: 'Session id',
  },
  {
    name: 'seed endpoint',
    slug: 'seed',
    transport: 'seed',
    disconnectReason: 'client_disconnect',
    idleStream: true,
    idLabel: 'Connection id',
  },
];

/** Controls without an accessible name (label, aria-label, or button text). */
const UNLABELLED_CONTROLS = `(() => [...document.querySelectorAll('input, select, textarea, button, progress')]
  .filter((el) => !((el.labels && el.labels.length > 0) || el.getAttribute('aria-label')
    || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim())))
  .map((el) => el.outerHTML.slice(0, 120)))()`;

let browser: TestBrowser;
let t: TestTether | undefined;
let watched: WatchedPage | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async (context) => {
  const w = watched;
  watched = undefined;
  if (context.task.result?.state === 'fail' && w) {
    // What the page saw, to tell a page bug from a server one.
    const state = await w.page.locator('.state > *').allTextContents();
    const lines = await w.page.locator('#log > li').allInnerTexts();
    const pairs = state.flatMap((text, i) => (i % 2 === 0 ? [`${text}: ${state[i + 1] ?? ''}`] : []));
    const entries = lines.slice(-60).map((line) => line.replace(/\n/g, ' | '));
    console.error(`page state:\n${pairs.join('\n')}\npage log (last 60):\n${entries.join('\n')}`);
  }
  await w?.page.close();
  await t?.close();
  t = undefined;
  // The page loads nothing but its own files and the server it talks to, and never throws.
  expect(w?.errors ?? []).toEqual([]);
});

async function start(
  options: Parameters<typeof startTether>[0] = {},
): Promise<{ t: TestTether; p: TestPage }> {
  t = await startTether({ pingIntervalMs: PING_INTERVAL_MS, setup, ...options });
  watched = await openPage(browser);
  const p = new TestPage(watched.page);
  await p.open(t.url);
  return { t, p };
}

describe.each(CASES)('the test page over $name', (c) => {
  it('connects, lists tools, calls echo and countdown with progress, pings, disconnects with a reason', async () => {
    const { t, p } = await start();
    const page = p.page;
    await p.connect(c);
    await p.expectConnected();
    await expectText(page.locator('#st-id-label'), c.idLabel);
    if (c.revision !== '2026-07-28') await expectText(page.locator('#st-id'), /^[A-Za-z0-9_-]{16,}$/);
    await expectText(
      page.locator('#st-protocol'),
      c.transport === 'seed'
        ? /server-side/
        : c.revision === '2026-07-28'
          ? /^2026-07-28/
          : /^20\d\d-\d\d-\d\d$/,
    );
    if (c.idleStream) await expectAtLeast(() => p.pings(), 1);

    const tools = await p.listTools();
    expect(tools).toEqual(expect.arrayContaining(['echo', 'add', 'server_time', 'countdown']));

    await p.chooseTool('echo');
    await p.arg('text').fill('hello from chromium');
    await p.call();
    await expectText(p.result(), 'hello from chromium');
    expect(await p.resultOutcome()).toBe('ok');

    await p.chooseTool('countdown');
    await p.arg('seconds').fill('2');
    await p.call();
    await expectAtLeast(() => p.progress(), 1, 5_000);
    await expectText(page.locator('#progress-text'), /^[12] \/ 2/);
    await expectText(p.result(), 'Countdown of 2s finished', 10_000);
    // A stateless connection holds a stream only while a call runs: the countdown's got pings.
    await expectAtLeast(() => p.pings(), 1);
    await expectText(page.locator('#st-last-ping'), /\d/);
    // The streaming endpoint names its progress events `notification`.
    if (c.transport === 'seed') expect(await p.logCount('notification')).toBeGreaterThanOrEqual(2);

    await p.button('Ping').click();
    // 2026-07-28 has no ping: the page times server/discover instead.
    await expectText(page.locator('#ping-result'), /^(pong|server\/discover answered) in \d+(\.\d)? ms/);

    await screenshot(page, `sse-test-${c.slug}`);
    expect(await page.evaluate(UNLABELLED_CONTROLS)).toEqual([]);

    await p.button('Disconnect').click();
    await expectText(p.status(), `Disconnected: ${c.disconnectReason}`);
    expect(await p.reason().getAttribute('data-reason')).toBe(c.disconnectReason);
    await waitFor(() => t.tether.registry.size === 0, 5_000, 'the registry to empty');
    expect(t.tether.sessions.size).toBe(0);
    if (c.transport === 'seed' || c.transport === 'legacy') {
      await waitFor(
        () => t.logsOf('connection.closed').some((l) => l.reason === 'client_disconnect'),
        5_000,
        'the server to log the client disconnect',
      );
    }
    if (c.revision === 'legacy') {
      await waitFor(
        () => t.logsOf('session.closed').some((l) => l.reason === 'session_deleted'),
        5_000,
        'the server to log the deleted session',
      );
    }
    // Nothing from anywhere but the server under test.
    expect(watched?.requests.filter((url) => !url.startsWith(`${t.url}/`))).toEqual([]);
  });

  it('cancels a long countdown from the Cancel button', async () => {
    const { t, p } = await start();
    await p.connect(c);
    await p.expectConnected();
    await p.listTools();
    await p.chooseTool('countdown');
    await p.arg('seconds').fill('30');
    await p.call();
    await expectAtLeast(() => p.progress(), 1, 5_000);
    await p.button('Cancel').click();
    await expect.poll(() => p.resultOutcome(), { timeout: 5_000 }).toBe('cancelled');
    await expectText(p.result(), 'countdown cancelled');
    // The server stopped the call: its countdown ends as aborted, not after 30 s.
    await expect
      .poll(
        async () =>
          (await t.tether.metrics.text()).match(
            /requests_total\{[^}]*tools\/call[^}]*aborted[^}]*\} (\d+)/,
          )?.[1],
        {
          timeout: 5_000,
        },
      )
      .toBe('1');
    expect(await p.button('Call tool').isEnabled()).toBe(true);
  });

  it('reports a server that stops', async () => {
    // A short grace: the drain waits for in-flight requests before it closes streams.
    const { t, p } = await start({ shutdownGraceMs: 1_000 });
    await p.connect(c);
    await p.expectConnected();
    await t.close();
    // The seed endpoint says why in its close event; elsewhere the page finds the server gone.
    await expectText(
      p.status(),
      c.transport === 'seed' ? 'Disconnected: shutdown' : /^Disconnected: (shutdown|server_unreachable)$/,
      15_000,
    );
    await expectText(p.reason(), /^(shutdown|server_unreachable) — /);
    expect(await p.button('Connect').isEnabled()).toBe(true);
  });
});

describe('the test page', () => {
  it('shows a dropped Streamable HTTP stream resuming with Last-Event-ID', async () => {
    const { t, p } = await start();
    await p.connect({ transport: 'streamable', revision: 'legacy' });
    await p.expectConnected();
    await waitFor(
      () => [...t.tether.registry.values()].some((c) => c.kind === 'standalone'),
      5_000,
      'GET stream',
    );
    const standalone = [...t.tether.registry.values()].find((c) => c.kind === 'standalone');
    standalone?.close('manual');
    await expectAtLeast(() => p.logCount('resume'), 1, 10_000);
    await expectText(p.page.locator('#log > li[data-type="resume"]').first(), /resuming after event \S+/);
    await expectText(p.status(), /^Connected$/);
    await expectText(p.page.locator('#st-state'), 'stream resumed');
    await waitFor(
      () => [...t.tether.registry.values()].some((c) => c.kind === 'standalone' && c.id !== standalone?.id),
      5_000,
      'the resumed GET stream',
    );
    await p.listTools();
    await p.chooseTool('echo');
    await p.arg('text').fill('after the drop');
    await p.call();
    await expectText(p.result(), 'after the drop');
  });

  it('ends a legacy SSE session whose stream the server closed, without reconnecting to a new session', async () => {
    const { t, p } = await start();
    await p.connect({ transport: 'legacy' });
    await p.expectConnected();
    await waitFor(() => t.tether.registry.size === 1, 5_000, 'the legacy stream');
    [...t.tether.registry.values()][0]?.close('manual');
    await expectText(p.status(), 'Disconnected: closed_by_server');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(t.tether.registry.size).toBe(0);
  });

  it('generates a form from inputSchema and shows JSON, images and tool errors', async () => {
    const { p } = await start();
    const page = p.page;
    await p.connect({ transport: 'streamable', revision: 'legacy' });
    await p.expectConnected();
    await p.listTools();
    await p.chooseTool('form_probe');
    expect(await p.arg('mode').evaluate((el) => el.tagName)).toBe('SELECT');
    expect(await p.arg('loud').getAttribute('type')).toBe('checkbox');
    expect(await p.arg('count').getAttribute('type')).toBe('number');
    expect(await p.arg('count').getAttribute('min')).toBe('1');
    expect(await p.arg('count').getAttribute('max')).toBe('5');
    expect(await p.arg('tags').evaluate((el) => el.tagName)).toBe('TEXTAREA');
    for (const required of ['mode', 'count']) expect(await p.arg(required).getAttribute('required')).toBe('');
    expect(await p.arg('note').getAttribute('required')).toBeNull();
    await expectText(page.getByText('How to run').first(), 'How to run');

    // The browser refuses to submit while required fields are empty: the form is invalid, and
    // clicking Call leaves the result untouched.
    expect(
      await p
        .arg('count')
        .evaluate((el) =>
          (el as unknown as { form: { checkValidity(): boolean } | null }).form?.checkValidity(),
        ),
    ).toBe(false);
    await p.call();
    expect(await p.resultOutcome()).toBeNull();

    await p.arg('mode').selectOption({ label: 'slow' });
    await p.arg('loud').check();
    await p.arg('count').fill('3');
    await p.arg('tags').fill('["a","b"]');
    await p.call();
    await expectText(p.result(), '"mode": "slow"');
    await expectText(p.result(), '"tags": [');
    expect(await p.result().locator('img').getAttribute('src')).toBe(`data:image/png;base64,${PIXEL_PNG}`);
    expect(await p.result().locator('img').getAttribute('alt')).toMatch(/image\/png/);
    expect(await p.result().textContent()).not.toContain('"note"');

    await p.chooseTool('always_fails');
    await expectText(page.locator('#tool-args'), 'This tool takes no arguments.');
    await p.call();
    await expect.poll(() => p.resultOutcome()).toBe('tool-error');
    await expectText(p.result(), 'the tool failed on purpose');

    // The raw wire form of an event is one click away.
    const entry = page.locator('#log > li[data-type="message"]').filter({ hasText: '"result"' }).first();
    await entry.getByText('raw', { exact: true }).click();
    await expectText(entry.locator('pre'), /^id: \S+\nevent: message\ndata: \{/);
    // Filter by type.
    await page.getByLabel('Show', { exact: true }).selectOption('http');
    expect(await page.locator('#log > li:not([hidden]):not([data-type="http"])').count()).toBe(0);
    expect(await page.locator('#log > li[data-type="http"]:not([hidden])').count()).toBeGreaterThan(0);
  });

  it('sends the bearer token, and says so when it is missing', async () => {
    const { p } = await start({ authTokens: [TOKEN] });
    for (const transport of ['streamable', 'legacy', 'seed'] as const) {
      await p.connect({ transport, revision: 'legacy' }, '');
      await expectText(p.status(), 'Connection failed');
      await expectText(p.page.locator('#st-state'), /401|Unauthorized/i);
      await p.connect({ transport, revision: 'legacy' }, TOKEN);
      await p.expectConnected();
      await p.button('Disconnect').click();
      await expectText(p.status(), /^Disconnected: /);
    }
  });

  it('shows where the token goes, flagging a ?url= that is not the page origin', async () => {
    t = await startTether({ pingIntervalMs: PING_INTERVAL_MS, setup });
    watched = await openPage(browser);
    const p = new TestPage(watched.page);
    await p.open(t.url, `?url=${encodeURIComponent('http://rebound.example:9999/tools')}`);
    const target = p.page.locator('#token-target');
    await expectText(target, "The token is sent to rebound.example:9999, not to this page's origin");
    expect(await target.getAttribute('data-foreign')).toBe('true');
    const describedBy = await p.page.getByLabel('Bearer token').getAttribute('aria-describedby');
    expect(describedBy).toBe('token-target');

    const own = new URL(t.url).host;
    await p.page.getByLabel('Server URL').fill(t.url);
    await expectText(target, `The token is sent to ${own} (this page's origin).`);
    expect(await target.getAttribute('data-foreign')).toBeNull();

    await p.page.getByLabel('Server URL').fill('not a url');
    await expectText(target, 'not a valid URL yet');
  });

  it('is readable at phone width', async () => {
    const { p } = await start();
    const page = p.page;
    await page.setViewportSize({ width: 390, height: 844 });
    await p.connect({ transport: 'seed' });
    await p.expectConnected();
    await p.listTools();
    await p.chooseTool('countdown');
    await expectAtLeast(() => p.pings(), 1);
    const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'sse-test-phone');
  });

  it('serves the page and its assets with a strict policy, and nothing else from public/', async () => {
    t = await startTether({ setup });
    const page = await fetch(`${t.url}/sse-test.html`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('sse-test/app.js');
    const script = await fetch(`${t.url}/sse-test/app.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const head = await fetch(`${t.url}/sse-test.html`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    for (const path of [
      '/sse-test/src/main.ts',
      '/sse-test/../package.json',
      '/sse-test/%2e%2e/package.json',
      '/sse-test/',
    ]) {
      expect((await fetch(`${t.url}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${t.url}/sse-test.html`, { method: 'POST' })).status).toBe(405);
  });
});
