/**
 * examples/live-feed.ts's page (examples/public/live-feed.html) in headless
 * Chromium: the server cuts the page's connection (POST /kick), 20 items are
 * published while it is away, the page reconnects by itself with its last
 * position and shows all 20 once, in order, with their positions, then live
 * items.
 *
 * Needs /usr/bin/chromium (or CHROMIUM_PATH). Missing: fails under CI, is
 * skipped with a warning elsewhere.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createLiveFeedApp, type LiveFeedApp } from '../../examples/live-feed';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TIMEOUT = 60_000;
const haveChromium = existsSync(CHROMIUM);

describe('browser: the live feed page catches up after its connection is cut', () => {
  if (!haveChromium) {
    if (process.env.CI) {
      test('Chromium is installed (required in CI)', () => {
        throw new Error(`Chromium not found at ${CHROMIUM}`);
      });
    } else {
      console.warn(`SKIPPED: Chromium not found at ${CHROMIUM} (install chromium or set CHROMIUM_PATH)`);
      test.skip('live feed page (no Chromium)', () => {});
    }
    return;
  }

  let browser: Browser;
  let app: LiveFeedApp;
  let base: string;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    app = createLiveFeedApp({ intervalMs: 0, snapshotSize: 2 });
    const port = await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  }, TIMEOUT);

  const rows = (page: Page) => page.$$eval('#items > li', (lis) => lis.map((li) => [li.querySelector('.pos')?.textContent ?? '', li.lastChild?.textContent ?? '']));

  test('20 items published while the page is cut off: all 20 shown once, in order, with positions', async () => {
    app.publishItem('old 1');
    app.publishItem('old 2');
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(base + '/');
    await page.locator('#status', { hasText: 'live' }).waitFor();
    app.publishItem('before the cut');
    await page.locator('#items > li', { hasText: 'before the cut' }).waitFor();
    const kicked = await fetch(base + '/kick', { method: 'POST' }).then((r) => r.json());
    expect(kicked).toEqual({ cut: 1 });
    // The page reconnects after its backoff (250 ms): these are published while it is away.
    for (let i = 1; i <= 20; i++) app.publishItem(`missed ${i}`);
    await page.locator('#items > li', { hasText: 'missed 20' }).waitFor();
    app.publishItem('live again');
    await page.locator('#items > li', { hasText: 'live again' }).waitFor();
    const shown = await rows(page);
    expect(shown.map((r) => r[1])).toEqual(['old 1', 'old 2', 'before the cut', ...Array.from({ length: 20 }, (_, i) => `missed ${i + 1}`), 'live again']);
    expect(shown.slice(0, 2).map((r) => r[0])).toEqual(['(snapshot)', '(snapshot)']);
    const offsets = shown.slice(2).map((r) => Number(r[0].split('.')[1]));
    expect(offsets).toEqual(Array.from({ length: 22 }, (_, i) => i + 3));
    expect(await page.textContent('#last')).toBe(shown[shown.length - 1][0]);
    expect(pageErrors).toEqual([]);
  }, TIMEOUT);
});
