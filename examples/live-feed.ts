/**
 * A live feed that survives reconnects (README: Recovery): items are
 * published to the topic "news"; every message reaches the page with its
 * position (the route's `envelope`), and a page that lost its connection
 * reconnects with `?since=<last position>` and gets exactly what it missed,
 * then live items. When the history no longer reaches back (or on the first
 * visit) it gets a snapshot from the "database" instead: the app's own store
 * stays the source of truth, history only bridges short gaps.
 *
 * Protocol on `/feed`:
 * - server to page: `{"t":"news","p":"<position>","m":"<item>"}` per item
 *   (replayed or live), and `{"snapshot":["<item>",...],"p":"<position>"}`
 *   when the page must start over (first visit, or `recovered: false`);
 * - the page connects to `/feed?since=<p>` with the last position it saw
 *   (`?since=` when it has none but was connected before: a snapshot then).
 *
 * HTTP: `GET /` the page (examples/public/live-feed.html), `GET
 * /xyra-client.js` the browser module it reconnects with (serveBrowserClient),
 * `POST /publish` (the body is the item), `POST /kick` cuts every feed
 * connection (as a flaky network would; the page catches up by itself).
 *
 * Run: npx ts-node --transpile-only examples/live-feed.ts (PORT overrides
 * 8000, FEED_INTERVAL the 2000 ms between generated items, 0 for none).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, serveBrowserClient, type AppOptions, type HistoryOptions, type WebSocket } from '../index';

/** Options of {@link createLiveFeedApp}. */
export interface LiveFeedOptions {
  /** Milliseconds between generated items; 0: none (publish with POST /publish). Default 2000. */
  intervalMs?: number;
  /** History bounds. Default `{ size: 1000, ttl: 300_000 }`. */
  history?: HistoryOptions;
  /** Items in a snapshot. Default 20. */
  snapshotSize?: number;
  /** Other App options (a `bus` for several processes). */
  app?: AppOptions;
}

/** The feed's topic. */
export const FEED_TOPIC = 'news';

/** The live feed: an App whose item timer is stopped by close(). */
export class LiveFeedApp extends App {
  /** The "database": every item published, oldest first (the source of truth for snapshots). */
  readonly items: string[] = [];
  private readonly snapshotSize: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly feedSockets = new Set<WebSocket>();

  constructor(options: LiveFeedOptions = {}) {
    super({ history: options.history ?? { size: 1000, ttl: 300_000 }, ...options.app });
    this.snapshotSize = options.snapshotSize ?? 20;
    this.websocket('/feed', {
      // The item and its position travel together; the page keeps the last position.
      envelope: (t, m, p) => JSON.stringify({ t, p, m: String(m) }),
      open: async (ws) => {
        this.feedSockets.add(ws);
        // Read the store at the instant of the subscribe: the snapshot holds
        // everything up to the position live items continue after.
        const snapshot = this.items.slice(-this.snapshotSize);
        const r = await ws.subscribe(FEED_TOPIC, { since: ws.query.since });
        if (!r.recovered || ws.query.since === undefined) ws.send(JSON.stringify({ snapshot, p: r.position }));
      },
      close: (ws) => void this.feedSockets.delete(ws),
    });
    const page = readFileSync(join(__dirname, 'public', 'live-feed.html'), 'utf8');
    this.get('/', (_req, res) => res.html(page));
    this.get('/xyra-client.js', serveBrowserClient);
    this.post('/publish', async (req, res) => {
      const item = (await req.text()).trim();
      if (item.length === 0 || item.length > 1000) return void res.status(400).json({ error: 'an item is 1 to 1000 characters' });
      this.publishItem(item);
      res.status(204).send(Buffer.alloc(0));
    });
    this.post('/kick', (_req, res) => {
      const n = this.feedSockets.size;
      for (const ws of this.feedSockets) ws.terminate();
      res.json({ cut: n });
    });
    const interval = options.intervalMs ?? 2000;
    if (interval > 0) {
      let n = 0;
      this.timer = setInterval(() => this.publishItem(`item ${++n} at ${new Date().toISOString()}`), interval);
      this.timer.unref();
    }
  }

  /** Store an item, then publish it (the store first: a snapshot never lacks a published item). */
  publishItem(item: string): void {
    this.items.push(item);
    if (this.items.length > 10_000) this.items.splice(0, this.items.length - 10_000);
    this.publish(FEED_TOPIC, item);
  }

  override close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    return super.close();
  }
}

export function createLiveFeedApp(options: LiveFeedOptions = {}): LiveFeedApp {
  return new LiveFeedApp(options);
}

if (require.main === module) {
  const app = createLiveFeedApp({ intervalMs: Number(process.env.FEED_INTERVAL ?? 2000) });
  const port = Number(process.env.PORT ?? 8000);
  app.listen(port).then((bound) => {
    console.log(`Live feed on http://localhost:${bound}/ (POST /kick cuts the connections; the page catches up)`);
  });
}
