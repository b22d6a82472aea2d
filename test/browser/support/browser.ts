import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';

/** Debian's `chromium` package; CI installs it in `.ci/run`. */
export const CHROMIUM_PATH = process.env.MCP_TETHER_CHROMIUM ?? '/usr/bin/chromium';

/** Where the run leaves screenshots (gitignored). */
export const SCREENSHOT_DIR = join(process.cwd(), 'test-results', 'browser');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A Chromium with a fresh profile, removed again by `close()`. */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Launches Debian's Chromium through playwright-core with a fresh user-data
 * dir and no network beyond what the page asks for.
 *
 * @example
 * const browser = await launchChromium();
 * const page = await browser.context.newPage();
 * // ...
 * await browser.close();
 */
export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} not found: install Debian's chromium (apt-get install --no-install-recommends chromium) or set MCP_TETHER_CHROMIUM`,
    );
  }
  const profile = await mkdtemp(join(tmpdir(), 'mcp-tether-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** A page with its uncaught errors and every URL it requested recorded. */
export interface WatchedPage {
  page: Page;
  /** Uncaught exceptions in the page. */
  errors: string[];
  /** Every URL the page requested. */
  requests: string[];
}

export async function openPage(browser: TestBrowser): Promise<WatchedPage> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (error) => errors.push(error.stack ?? error.message));
  page.on('request', (request) => requests.push(request.url()));
  return { page, errors, requests };
}

/** Writes a screenshot to {@link SCREENSHOT_DIR} and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** Polls a locator's text until it matches. */
export async function expectText(
  locator: Locator,
  pattern: RegExp | string,
  timeout = 10_000,
): Promise<void> {
  const poll = expect.poll(async () => (await locator.textContent()) ?? '', { timeout, interval: 50 });
  if (typeof pattern === 'string') await poll.toContain(pattern);
  else await poll.toMatch(pattern);
}

/** Polls a number read from the page until it reaches `min`. */
export async function expectAtLeast(
  read: () => Promise<number>,
  min: number,
  timeout = 10_000,
): Promise<void> {
  await expect.poll(read, { timeout, interval: 50 }).toBeGreaterThanOrEqual(min);
}
