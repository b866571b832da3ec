/**
 * The browser module (browser/xyra-client.ts) in real headless Chromium: the
 * page imports it from the App route (serveBrowserClient), connects with a url
 * function, the server terminates the connection, the page reconnects
 * ('reconnecting' then 'open'), and the 20 messages it sent while
 * disconnected arrive in order on the new connection, before what it sends
 * on 'open'. Then 20 live messages reach the page once each, in order.
 *
 * Needs /usr/bin/chromium (or CHROMIUM_PATH); see chat.browser.test.ts.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { App, serveBrowserClient, type WebSocket } from '../../index';
import { waitFor } from '../lib/helpers';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TIMEOUT = 60_000;
const STEP = 10_000;
const haveChromium = existsSync(CHROMIUM);

// What a user writes: the module from the App route, a url function, listeners.
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>xyra reconnect</title>
<ul id="feed"></ul>
<script type="module">
import { ReconnectingWebSocket, SendStatus } from '/xyra-client.js';
const feed = document.getElementById('feed');
window.events = [];
window.statuses = [];
window.delays = [];
let opens = 0;
const ws = new ReconnectingWebSocket((attempt) => '/ws?attempt=' + attempt, { reconnect: { minDelay: 50, maxDelay: 200 } });
window.ws = ws;
ws.on('open', () => {
  events.push('open');
  if (++opens === 2) ws.send('after-open');
});
ws.on('message', (data) => {
  events.push('message:' + data);
  const li = document.createElement('li');
  li.textContent = data;
  feed.appendChild(li);
});
ws.on('reconnecting', (attempt, delay, info) => {
  events.push('reconnecting:' + attempt + ':' + info.code);
  delays.push(delay);
  // Disconnected: these are queued and must arrive in order after the reconnect.
  if (attempt === 1) for (let i = 1; i <= 20; i++) statuses.push(ws.send('m' + i));
  window.queued = ws.bufferedAmount;
});
ws.on('close', (code) => events.push('close:' + code));
window.SendStatus = SendStatus;
</script>`;

describe('browser: the reconnecting module in headless Chromium', () => {
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
  const sockets: WebSocket[] = [];
  const attempts: string[] = [];
  const received: string[][] = [];
  const serverCloses: number[] = [];

  beforeAll(async () => {
    app = new App({ onError: () => {} });
    app.get('/', (_req, res) => res.html(PAGE));
    app.get('/xyra-client.js', serveBrowserClient);
    app.websocket('/ws', {
      upgrade(req, res) {
        attempts.push(req.query.attempt);
        res.accept();
      },
      open(ws) {
        sockets.push(ws);
        received.push([]);
        ws.send(`welcome-${sockets.length}`);
      },
      message(ws, message) {
        received[sockets.indexOf(ws)].push(String(message));
      },
      close(_ws, code) {
        serverCloses.push(code);
      },
    });
    const port = await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${port}/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 30_000,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  }, TIMEOUT);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  }, TIMEOUT);

  async function until(page: Page, fn: string): Promise<void> {
    await page.waitForFunction(fn, undefined, { timeout: STEP });
  }

  test(
    'the server cuts the connection: the page reconnects and its queued messages arrive in order',
    async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (err) => pageErrors.push(err.message));
      try {
        await page.goto(base);
        await until(page, `window.events && window.events.includes('message:welcome-1')`);

        sockets[0].terminate();
        await until(page, `window.events.includes('message:welcome-2')`);
        await waitFor(() => received[1]?.length === 21, STEP, 'queued messages on the new connection');
        // The queue first, in order, then what the page sent on 'open'.
        expect(received[1]).toEqual([...Array.from({ length: 20 }, (_, i) => `m${i + 1}`), 'after-open']);
        expect(received[0]).toEqual([]);
        expect(serverCloses).toEqual([1006]);
        // The url function ran per attempt: 0 for the first, 1 for the reconnect.
        expect(attempts).toEqual(['0', '1']);

        const state = await page.evaluate(() => {
          const w = globalThis as any;
          return { events: w.events, statuses: w.statuses, delays: w.delays, queued: w.queued, backpressure: w.SendStatus.BACKPRESSURE, readyState: w.ws.readyState, buffered: w.ws.bufferedAmount };
        });
        expect(state.events).toEqual(['open', 'message:welcome-1', 'reconnecting:1:1006', 'open', 'message:welcome-2']);
        expect(state.statuses).toEqual(Array(20).fill(state.backpressure));
        // 'm1'..'m9' are 2 bytes, 'm10'..'m20' 3 bytes.
        expect(state.queued).toBe(9 * 2 + 11 * 3);
        expect(state.delays).toHaveLength(1);
        expect(state.delays[0]).toBeGreaterThanOrEqual(0);
        expect(state.delays[0]).toBeLessThanOrEqual(50);
        expect(state.readyState).toBe(1);
        expect(state.buffered).toBe(0);

        // Live messages after the reconnect: each shown once, in order.
        const live = Array.from({ length: 20 }, (_, i) => `live-${i + 1}`);
        for (const m of live) sockets[1].send(m);
        await until(page, `document.querySelectorAll('#feed li').length === 22`);
        const shown = await page.$$eval('#feed li', (lis) => lis.map((li) => li.textContent));
        expect(shown).toEqual(['welcome-1', 'welcome-2', ...live]);

        // close() ends it: one 'close', and the server sees a normal closure.
        await page.evaluate(() => (globalThis as any).ws.close(1000, 'bye'));
        await until(page, `window.events.includes('close:1000')`);
        expect(await page.evaluate(() => (globalThis as any).ws.readyState)).toBe(3);
        await waitFor(() => serverCloses.length === 2, STEP, 'server close');
        expect(serverCloses).toEqual([1006, 1000]);
        expect(pageErrors).toEqual([]);
      } finally {
        await context.close();
      }
    },
    TIMEOUT,
  );
});
