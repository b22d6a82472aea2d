import type { Page } from 'playwright-core';
import { expectAtLeast, expectText } from './browser.js';

/** The transport and revision choices as the page's selects name them. */
export interface PageTransport {
  transport: 'streamable' | 'legacy' | 'seed';
  revision?: 'legacy' | '2026-07-28' | 'auto';
}

/**
 * Drives `/sse-test.html` the way an operator does: by its labels and
 * buttons. Only generated argument fields are found by `data-arg`.
 */
export class TestPage {
  constructor(readonly page: Page) {}

  /** The status pill in the header. */
  status() {
    return this.page.locator('#status');
  }

  button(name: string) {
    return this.page.getByRole('button', { name, exact: true });
  }

  async open(baseUrl: string, query = ''): Promise<void> {
    await this.page.goto(`${baseUrl}/sse-test.html${query}`);
    await expectText(this.status(), 'Not connected');
  }

  async connect({ transport, revision }: PageTransport, token = ''): Promise<void> {
    await this.page.getByLabel('Transport', { exact: true }).selectOption(transport);
    if (revision && transport === 'streamable')
      await this.page.getByLabel('Protocol revision', { exact: true }).selectOption(revision);
    await this.page.getByLabel('Bearer token').fill(token);
    await this.button('Connect').click();
  }

  async expectConnected(): Promise<void> {
    await expectText(this.status(), /^Connected$/);
  }

  async pings(): Promise<number> {
    return Number((await this.page.locator('#st-pings').textContent()) ?? '0');
  }

  async listTools(): Promise<string[]> {
    await this.button('List tools').click();
    const select = this.page.getByLabel('Tool', { exact: true });
    await expectAtLeast(async () => (await select.locator('option').count()) - 1, 1);
    return (await select.locator('option').allTextContents()).slice(1);
  }

  async chooseTool(name: string): Promise<void> {
    await this.page.getByLabel('Tool', { exact: true }).selectOption(name);
  }

  arg(name: string) {
    return this.page.locator(`[data-arg="${name}"]`);
  }

  result() {
    return this.page.locator('#result');
  }

  async resultOutcome(): Promise<string | null> {
    return this.result().getAttribute('data-outcome');
  }

  /** The progress bar's value (0 until the first notification). */
  async progress(): Promise<number> {
    return Number((await this.page.locator('#progress').getAttribute('value')) ?? '0');
  }

  async call(): Promise<void> {
    await this.button('Call tool').click();
  }

  /** Count of log entries of one type. */
  async logCount(type: string): Promise<number> {
    return this.page.locator(`#log > li[data-type="${type}"]`).count();
  }

  reason() {
    return this.page.locator('#st-reason');
  }
}
