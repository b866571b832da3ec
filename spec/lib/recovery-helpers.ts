/**
 * Shared by the recovery tests: a feed App (history in memory, an envelope
 * that shows topic, position and message as JSON) and clients that record
 * what they receive. Everything on 127.0.0.1 port 0, closed by `cleanup()`.
 */
import { App, type AppBehavior, type AppOptions } from '../../lib/app';
import { connect, type ClientOptions } from '../../lib/client';
import type { WebSocket } from '../../lib/websocket';
import type { HistoryOptions } from '../../lib/history/options';
import type { RecoveryResult } from '../../lib/recovery';
import { waitFor } from './helpers';

/** One message of the feed as the client sees it. */
export interface Item {
  t: string;
  p: string | undefined;
  m: string;
}

export interface Feed {
  app: App;
  base: string;
  /** Results of every subscribe(..., { since }) on the server, in order. */
  results: RecoveryResult[];
  errors: Error[];
  /** Server sockets whose recovery is running. */
  replaying: Set<WebSocket>;
  /** Server sockets by the `id` query parameter. */
  sockets: Map<string, WebSocket>;
}

const apps: App[] = [];
const clients: WebSocket[] = [];

/** Close every client and App opened through these helpers. */
export async function cleanup(): Promise<void> {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(apps.splice(0).map((a) => a.close()));
}

/**
 * An App with route `/feed`: `?topic=t&since=p&pattern=1` subscribes in `open`
 * (no `topic`: the client sends `{"topic","since","pattern"}` as JSON, so any
 * JSON value can be a `since`); the result is sent as `{"result": ...}`.
 */
export async function startFeed(history: HistoryOptions | true, extra: Partial<AppBehavior> = {}, appOptions: AppOptions = {}): Promise<Feed> {
  const results: RecoveryResult[] = [];
  const errors: Error[] = [];
  const replaying = new Set<WebSocket>();
  const sockets = new Map<string, WebSocket>();
  const app = new App({ history, onError: (e) => errors.push(e), ...appOptions });
  const recover = async (ws: WebSocket, topic: string, since: unknown, pattern: boolean) => {
    replaying.add(ws);
    const r = await ws.subscribe(topic, { since: since as string | undefined, pattern });
    replaying.delete(ws);
    results.push(r);
    ws.send(JSON.stringify({ result: r }));
  };
  app.websocket('/feed', {
    envelope: (t, m, p) => JSON.stringify({ t, p, m: String(m) }),
    open(ws: WebSocket) {
      if (ws.query.id !== undefined) sockets.set(ws.query.id, ws);
      if (ws.query.topic !== undefined) return recover(ws, ws.query.topic, ws.query.since, ws.query.pattern === '1');
      return undefined;
    },
    message(ws: WebSocket, m: string | Buffer) {
      const c = JSON.parse(String(m));
      return recover(ws, c.topic, c.since, c.pattern === true);
    },
    ...extra,
  } as AppBehavior);
  apps.push(app);
  const port = await app.listen(0, '127.0.0.1');
  return { app, base: `ws://127.0.0.1:${port}/feed`, results, errors, replaying, sockets };
}

/** A client of the feed: parsed items, and the recovery result when it comes. */
export class FeedClient {
  readonly items: Item[] = [];
  /** Everything received, results included, in order. */
  readonly all: Array<Item | { result: RecoveryResult }> = [];
  result: RecoveryResult | null = null;
  /** How many items had arrived when the result came. */
  itemsBeforeResult = -1;
  closed: number | null = null;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data));
      this.all.push(msg);
      if ('result' in msg) {
        this.result = msg.result;
        this.itemsBeforeResult = this.items.length;
      } else this.items.push(msg);
    });
    ws.on('close', (code) => (this.closed = code));
  }

  static async open(url: string, options: ClientOptions = {}): Promise<FeedClient> {
    const ws = await connect(url, { handshakeTimeout: 5000, ...options });
    clients.push(ws);
    return new FeedClient(ws);
  }

  async waitResult(ms = 10000): Promise<RecoveryResult> {
    await waitFor(() => this.result !== null, ms, 'recovery result');
    return this.result!;
  }

  async waitItems(n: number, ms = 10000): Promise<Item[]> {
    await waitFor(() => this.items.length >= n, ms, `${n} items (have ${this.items.length})`);
    return this.items;
  }

  /** Wait until an item with message `m` arrived. */
  async waitFor(m: string, ms = 10000): Promise<void> {
    await waitFor(() => this.items.some((i) => i.m === m), ms, `item ${m}`);
  }

  get messages(): string[] {
    return this.items.map((i) => i.m);
  }
}

/** Position (`p`) of the last item a client saw. */
export function lastPosition(c: FeedClient): string {
  const p = c.items[c.items.length - 1]?.p;
  if (p === undefined) throw new Error('no position seen');
  return p;
}

/** Offset part of a position. */
export function offsetOf(p: string | undefined): number {
  return Number(String(p).slice(String(p).lastIndexOf('.') + 1));
}
