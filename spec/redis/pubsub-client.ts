/**
 * The pub/sub protocol the Redis tests speak over real WebSockets, shared by
 * spec/redis/*.test.ts: clients send "sub t", "psub p" (a wildcard pattern),
 * "pub t text" or "bin t hex"; each subscribe is acknowledged with "ok t".
 */
import { connect, type WebSocket } from '../../index';

/** Route behaviour for the commands above. */
export const commandRoute = {
  message(ws: WebSocket, m: string | Buffer) {
    const [cmd, topic, ...rest] = String(m).split(' ');
    if (cmd === 'sub') ws.subscribe(topic), ws.send(`ok ${topic}`);
    else if (cmd === 'psub') ws.subscribe(topic, { pattern: true }), ws.send(`ok ${topic}`);
    else if (cmd === 'pub') ws.publish(topic, rest.join(' '));
    else if (cmd === 'bin') ws.publish(topic, Buffer.from(rest[0], 'hex'));
  },
};

/**
 * A client subscribed to `subs` ("topic", or "p:pattern"), each acknowledged
 * before it resolves; `got` collects every other message (text as strings,
 * binary as Buffers). The socket is added to `owned` for the test's teardown.
 */
export function subscriber(url: string, subs: string[], owned: WebSocket[]): Promise<{ ws: WebSocket; got: Array<string | Buffer> }> {
  return subscribe(url, subs, owned, (m) => m);
}

/** The same, for tests that publish text only: `got` holds strings. */
export function textSubscriber(url: string, subs: string[], owned: WebSocket[]): Promise<{ ws: WebSocket; got: string[] }> {
  return subscribe(url, subs, owned, String);
}

async function subscribe<T>(url: string, subs: string[], owned: WebSocket[], keep: (m: string | Buffer) => T): Promise<{ ws: WebSocket; got: T[] }> {
  const ws = await connect(url);
  owned.push(ws);
  const got: T[] = [];
  ws.on('message', (m: string | Buffer) => {
    if (typeof m === 'string' && m.startsWith('ok ')) return;
    got.push(keep(m));
  });
  for (const s of subs) {
    const t = s.replace(/^p:/, '');
    const acked = new Promise<void>((r) => ws.on('message', (m: string | Buffer) => m === `ok ${t}` && r()));
    ws.send(s.startsWith('p:') ? `psub ${t}` : `sub ${t}`);
    await acked;
  }
  return { ws, got };
}
