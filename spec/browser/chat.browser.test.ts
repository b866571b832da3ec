/**
 * The docs' HTML chat client (examples/public/chat.html, served by
 * createChatApp() at GET /) in real headless Chromium: two pages, A types and
 * presses Enter, B shows "User: <message>", A does not.
 *
 * Needs /usr/bin/chromium (or CHROMIUM_PATH). Missing: fails under CI (CI
 * installs it, see .ci/run), is skipped with a warning elsewhere.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createChatApp } from '../../examples/chat';
import type { App } from '../../index';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = join(__dirname, '..', '..', 'reports', 'chat.png');
const TIMEOUT = 60_000;
const STEP = 10_000;

const haveChromium = existsSync(CHROMIUM);

if (!haveChromium && !process.env.CI) {
  console.warn(
    `\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n` +
      `!! Chromium not found at ${CHROMIUM}: the browser chat test is SKIPPED.\n` +
      `!! Install it (apt-get install chromium) or set CHROMIUM_PATH.\n` +
      `!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n`,
  );
}

describe('browser: the docs chat page in headless Chromium', () => {
  if (!haveChromium) {
    if (process.env.CI) {
      test('Chromium is installed (required in CI)', () => {
        throw new Error(`Chromium not found at ${CHROMIUM}; CI must install it (see .ci/run)`);
      });
    } else {
      test.skip(`SKIPPED: Chromium not found at ${CHROMIUM} (install chromium or set CHROMIUM_PATH)`, () => {});
    }
    return;
  }

  let browser: Browser;
  let app: App;
  let base: string;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  let log: jest.SpyInstance;

  beforeAll(async () => {
    log = jest.spyOn(console, 'log').mockImplementation(() => {});
    app = createChatApp();
    const port = await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${port}/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
  }, TIMEOUT);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await app?.close();
    log?.mockRestore();
  }, TIMEOUT);

  /** A fresh browser profile (context) per user, on the chat page, welcomed. */
  async function openChat(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 640, height: 360 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(STEP);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(base);
    // The welcome is the server's answer to open: the WebSocket is up.
    await waitForLine(page, 'Welcome to chat room!');
    return page;
  }

  function lines(page: Page): Promise<string[]> {
    return page.$$eval('#messages > div', (divs) => divs.map((d) => d.textContent ?? ''));
  }

  async function waitForLine(page: Page, text: string): Promise<void> {
    const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    await page.locator('#messages > div').filter({ hasText: exact }).first().waitFor({ timeout: STEP });
  }

  test(
    'page A types and presses Enter: page B shows "User: <message>", page A does not',
    async () => {
      const a = await openChat();
      const b = await openChat();
      const message = `hello from A ${Date.now()}`;

      await a.fill('#messageInput', message);
      await a.press('#messageInput', 'Enter');

      await waitForLine(b, `User: ${message}`);
      expect(await lines(b)).toEqual(['Welcome to chat room!', `User: ${message}`]);
      // The page clears the input after sending.
      expect(await a.inputValue('#messageInput')).toBe('');

      // B answers with the Send button; A receiving it also proves A's own
      // message would have arrived by now had it been sent back.
      await b.fill('#messageInput', 'hi A');
      await b.click('button');
      await waitForLine(a, 'User: hi A');
      expect(await lines(a)).toEqual(['Welcome to chat room!', 'User: hi A']);
      expect(await lines(b)).toEqual(['Welcome to chat room!', `User: ${message}`]);

      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await b.screenshot({ path: SCREENSHOT });
      expect(existsSync(SCREENSHOT)).toBe(true);
      expect(pageErrors).toEqual([]);
    },
    TIMEOUT,
  );
});
