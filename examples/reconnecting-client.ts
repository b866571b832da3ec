/**
 * Clients that survive dropped connections, from a page and from Node.
 *
 * The server publishes `tick <n>` every second (TICK_INTERVAL) on the topic
 * `ticks` at /feed and answers each message with `echo: <message>`. The page
 * at / imports the browser module from /xyra-client.js (serveBrowserClient);
 * `watchFeed()` is the same client in Node. Stop the server and start it
 * again: both say they are reconnecting, come back with backoff, and what
 * was typed meanwhile is sent once they are back, in order. Ticks published
 * while a client was away are not replayed (that is issue 16's history).
 *
 * Run: npx ts-node --transpile-only examples/reconnecting-client.ts (PORT overrides 8000)
 *      npx ts-node --transpile-only examples/reconnecting-client.ts --client ws://localhost:8000/feed
 */
import { App, connect, serveBrowserClient, type ReconnectingWebSocket } from '../index';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>Reconnecting feed</title>
<p>Connection: <b id="state">connecting</b></p>
<form id="form"><input id="text" autocomplete="off" placeholder="type, even offline"> <button>Send</button></form>
<ul id="feed"></ul>
<script type="module">
  import { ReconnectingWebSocket } from '/xyra-client.js';
  const $ = (id) => document.getElementById(id);
  const ws = new ReconnectingWebSocket('/feed', { reconnect: { minDelay: 500, maxDelay: 5000 } });
  ws.on('open', () => ($('state').textContent = 'online'));
  ws.on('reconnecting', (attempt, delay) => ($('state').textContent = 'offline, retry ' + attempt + ' in ' + delay + ' ms'));
  ws.on('close', (code) => ($('state').textContent = 'closed (' + code + ')'));
  ws.on('message', (data) => {
    const li = document.createElement('li');
    li.textContent = data;
    $('feed').prepend(li);
  });
  $('form').onsubmit = (event) => {
    event.preventDefault();
    ws.send($('text').value);   // queued while offline
    $('text').value = '';
  };
</script>`;

/** The feed app: an App whose tick timer is stopped by close(). */
export class FeedApp extends App {
  private timer: NodeJS.Timeout | null = null;
  private ticks = 0;

  /** Publish `tick <n>` every `intervalMs`. */
  startTicks(intervalMs: number): void {
    this.timer = setInterval(() => this.publish('ticks', `tick ${++this.ticks}`), intervalMs);
    this.timer.unref();
  }

  override close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    return super.close();
  }
}

export function createFeedApp(options: { intervalMs?: number } = {}): FeedApp {
  const app = new FeedApp();
  app.get('/', (_req, res) => res.html(PAGE));
  app.get('/xyra-client.js', serveBrowserClient);
  app.websocket('/feed', {
    open(ws) {
      ws.subscribe('ticks');
    },
    message(ws, message) {
      ws.send(`echo: ${message}`);
    },
  });
  app.startTicks(options.intervalMs ?? 1000);
  return app;
}

/** The Node twin of the page: a reconnecting client that reports what happens through `log`. */
export async function watchFeed(url: string, log: (line: string) => void, minDelay = 500): Promise<ReconnectingWebSocket> {
  const ws = await connect(url, { reconnect: { minDelay, maxDelay: 5000 } });
  ws.on('open', () => log('online'));
  ws.on('reconnecting', (attempt, delay, info) => log(`offline (${info.error ? info.error.message : info.code}), retry ${attempt} in ${delay} ms`));
  ws.on('close', (code) => log(`closed (${code})`));
  ws.on('message', (message) => log(String(message)));
  return ws;
}

if (require.main === module) {
  const i = process.argv.indexOf('--client');
  if (i >= 0) {
    watchFeed(process.argv[i + 1] ?? 'ws://localhost:8000/feed', console.log).then((ws) => {
      // Each line typed is sent, or queued while offline.
      process.stdin.setEncoding('utf8');
      process.stdin.on('data', (line: string) => ws.send(line.trim()));
      process.stdin.on('end', () => ws.close());
    });
  } else {
    const app = createFeedApp({ intervalMs: Number(process.env.TICK_INTERVAL ?? 1000) });
    app.listen(Number(process.env.PORT ?? 8000)).then((port) => console.log(`Feed page on http://localhost:${port}/`));
  }
}
