import * as http from 'node:http';
import { createLiveFeedApp, type LiveFeedApp } from '../../examples/live-feed';
import { Harness, type Recorder } from './helpers';
import { waitFor } from '../lib/helpers';

interface Msg {
  t?: string;
  p?: string;
  m?: string;
  snapshot?: string[];
}

function request(port: number, method: string, path: string, body = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('examples/live-feed (recovery after a reconnect)', () => {
  const h = new Harness();
  let app: LiveFeedApp;
  let port = 0;
  beforeEach(async () => {
    app = await h.start(createLiveFeedApp({ intervalMs: 0, history: { size: 20 }, snapshotSize: 3 }));
    port = Number(h.base.split(':')[2]);
  });
  afterEach(async () => {
    await h.closeAll();
  });

  const parsed = (c: Recorder): Msg[] => c.texts.map((t) => JSON.parse(t));
  const items = (c: Recorder) => parsed(c).filter((m) => m.snapshot === undefined);

  test('first visit: a snapshot of the store with a position, then live items with positions', async () => {
    for (const i of ['a', 'b', 'c', 'd']) app.publishItem(i);
    const c = await h.connect('/feed');
    const snap: Msg = JSON.parse(await c.nextText());
    expect(snap.snapshot).toEqual(['b', 'c', 'd']);
    expect(snap.p).toMatch(/^[0-9a-f]+\.4$/);
    app.publishItem('e');
    const e: Msg = JSON.parse(await c.nextText());
    expect(e).toEqual({ t: 'news', p: snap.p!.replace(/4$/, '5'), m: 'e' });
  });

  test('reconnect with ?since=<last position>: exactly the missed items in order, no snapshot, then live; none twice', async () => {
    const a = await h.connect('/feed');
    app.publishItem('one');
    await waitFor(() => items(a).length === 1);
    const last = items(a)[0].p!;
    a.ws.terminate();
    await waitFor(() => app.numSubscribers('news') === 0);
    for (let i = 0; i < 10; i++) app.publishItem(`missed ${i}`);
    const b = await h.connect(`/feed?since=${encodeURIComponent(last)}`);
    await waitFor(() => b.texts.length === 10);
    app.publishItem('live');
    await waitFor(() => b.texts.length === 11);
    const got = parsed(b);
    expect(got.map((m) => m.m)).toEqual([...Array.from({ length: 10 }, (_, i) => `missed ${i}`), 'live']);
    expect(got.every((m) => m.snapshot === undefined)).toBe(true);
    expect(new Set(got.map((m) => m.p)).size).toBe(11);
  });

  test('history no longer reaches back (more than size missed), or no position: a snapshot to start over', async () => {
    const a = await h.connect('/feed');
    app.publishItem('first');
    await waitFor(() => items(a).length === 1);
    const last = items(a)[0].p!;
    for (let i = 0; i < 25; i++) app.publishItem(`n${i}`);
    for (const q of [`?since=${encodeURIComponent(last)}`, '?since=', '?since=garbage']) {
      const c = await h.connect(`/feed${q}`);
      const m: Msg = JSON.parse(await c.nextText());
      expect([q, m.snapshot]).toEqual([q, ['n22', 'n23', 'n24']]);
      expect(m.p).toMatch(/\.26$/);
    }
  });

  test('HTTP: the page (the browser module, reconnects with since), the module, POST /publish, POST /kick cuts the feed connections', async () => {
    const page = await request(port, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain("import { ReconnectingWebSocket } from '/xyra-client.js'");
    expect(page.body).toContain("'?since=' + encodeURIComponent(last)");
    expect(page.body).toContain('/feed');
    const client = await request(port, 'GET', '/xyra-client.js');
    expect(client.status).toBe(200);
    expect(client.body).toContain('export class ReconnectingWebSocket');
    const c = await h.connect('/feed');
    await c.next(); // snapshot
    expect((await request(port, 'POST', '/publish', 'from http')).status).toBe(204);
    expect(JSON.parse(await c.nextText()).m).toBe('from http');
    expect((await request(port, 'POST', '/publish', '')).status).toBe(400);
    expect(await request(port, 'POST', '/kick')).toEqual({ status: 200, body: '{"cut":1}' });
    expect((await c.closed()).code).toBe(1006);
  });

  test('the item timer publishes generated items to the feed', async () => {
    const timed = createLiveFeedApp({ intervalMs: 20 });
    const p = await timed.listen(0, '127.0.0.1');
    try {
      await waitFor(() => timed.items.length >= 2, 5000, 'items from the timer');
      expect(timed.items.slice(0, 2)).toEqual([expect.stringMatching(/^item 1 at /), expect.stringMatching(/^item 2 at /)]);
      expect(p).toBeGreaterThan(0);
    } finally {
      await timed.close();
    }
  });
});
