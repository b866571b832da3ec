/**
 * One server socket's state is one object (lib/server/upgrade-session.ts
 * extends lib/http/exchange.ts): the same raw connection reads request heads,
 * serves HTTP (keep-alive, pipelining, the wait for 'drain' when an answer
 * is more than the kernel takes at once) and upgrades, in any order.
 */
import * as net from 'node:net';
import { App } from '../../../lib/app';
import { ResponseHeadParser } from '../../../lib/http/head';
import { clientFrame, parseFrames } from '../../support/wire';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const upgrade = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

/**
 * An answer far over what a loopback socket's kernel buffers hold (Linux
 * caps them at a few MiB): writing it always leaves bytes in the socket's
 * queue, so requests pipelined behind it wait for 'drain'.
 */
const HUGE = 16 * 1024 * 1024;

/** What came back on one raw connection: the HTTP answers in order, then the WebSocket frames after a 101. */
interface Exchanged {
  statuses: number[];
  /** Bodies as text; one over 64 characters as its first 8 and its length. */
  bodies: string[];
  frames: string[];
}

const summary = (body: string): string => (body.length > 64 ? `${body.slice(0, 8)}...(${body.length})` : body);

/** Reads responses (and frames after a 101) as they complete; joins chunks only once a whole response is there. */
class Replies {
  readonly got: Exchanged = { statuses: [], bodies: [], frames: [] };
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes needed before parsing can get further. */
  private want = 1;
  private upgraded = false;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size < this.want) return;
    let data: Buffer = Buffer.concat(this.chunks, this.size);
    for (;;) {
      if (this.upgraded) {
        const { frames, consumed } = parseFrames(data);
        for (const f of frames) this.got.frames.push(f.payload.toString('utf8'));
        data = data.subarray(consumed);
        this.want = data.length + 1;
        break;
      }
      const r = new ResponseHeadParser().push(data);
      if (r === null) {
        this.want = data.length + 1;
        break;
      }
      this.got.statuses.push(r.head.statusCode);
      if (r.head.statusCode === 101) {
        this.upgraded = true;
        data = r.rest;
        continue;
      }
      const length = Number(r.head.headers['content-length'] ?? 0);
      if (r.rest.length < length) {
        this.got.statuses.pop();
        this.want = data.length - r.rest.length + length;
        break;
      }
      this.got.bodies.push(summary(r.rest.subarray(0, length).toString('latin1')));
      data = r.rest.subarray(length);
    }
    this.chunks = data.length > 0 ? [data] : [];
    this.size = data.length;
  }
}

interface Step {
  /** Sent once the answers so far satisfy this. */
  after: (x: Exchanged) => boolean;
  send: Buffer | string;
}

/** Write `steps` on one connection and resolve with what came back once `done` holds; a close or 15 s first rejects. */
function converse(port: number, steps: Step[], done: (x: Exchanged) => boolean): Promise<Exchanged> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const replies = new Replies();
    let next = 0;
    const timer = setTimeout(() => finish(new Error(`no end after 15 s: ${JSON.stringify(replies.got)}`)), 15000);
    const finish = (err: Error | null) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(replies.got);
    };
    const advance = () => {
      while (next < steps.length && steps[next].after(replies.got)) socket.write(steps[next++].send);
      if (next === steps.length && done(replies.got)) finish(null);
    };
    socket.on('connect', advance);
    socket.on('data', (chunk) => {
      replies.push(chunk);
      advance();
    });
    socket.on('error', finish);
    socket.on('close', () => finish(new Error(`closed early: ${JSON.stringify(replies.got)}`)));
  });
}

describe('one raw connection, one state object: HTTP and upgrade on the same socket', () => {
  let app: App;
  let port: number;
  beforeAll(async () => {
    app = new App();
    app.get('/n/:i', (req, res) => res.send(req.params.i));
    app.get('/huge/:i', (req, res) => res.send(req.params.i.padEnd(HUGE, '.')));
    app.websocket('/ws', { message: (ws, m) => ws.send(`echo:${String(m)}`) });
    port = await app.listen(0, '127.0.0.1');
  });
  afterAll(() => app.close());

  const now = () => true;
  const answers = (n: number) => (x: Exchanged) => x.statuses.length === n;
  const huge = (i: number) => summary(String(i).padEnd(HUGE, '.'));
  test.each<[string, Step[], (x: Exchanged) => boolean, Exchanged]>([
    [
      'two keep-alive requests, then an upgrade and a message',
      [
        { after: now, send: get('/n/1') },
        { after: answers(1), send: get('/n/2') },
        { after: answers(2), send: upgrade('/ws') },
        { after: answers(3), send: clientFrame(1, 'hi') },
      ],
      (x) => x.frames.length === 1,
      { statuses: [200, 200, 101], bodies: ['1', '2'], frames: ['echo:hi'] },
    ],
    [
      'two requests and an upgrade pipelined in one write',
      [{ after: now, send: get('/n/1') + get('/n/2') + upgrade('/ws') }, { after: answers(3), send: clientFrame(1, 'x') }],
      (x) => x.frames.length === 1,
      { statuses: [200, 200, 101], bodies: ['1', '2'], frames: ['echo:x'] },
    ],
    [
      'a 16 MiB answer with three requests pipelined behind it: they wait for drain, then come in order',
      [{ after: now, send: get('/huge/1') + get('/n/2') + get('/huge/3') + get('/n/4') }],
      answers(4),
      { statuses: [200, 200, 200, 200], bodies: [huge(1), '2', huge(3), '4'], frames: [] },
    ],
    [
      'a 16 MiB answer with an upgrade pipelined behind it',
      [{ after: now, send: get('/huge/7') + upgrade('/ws') }, { after: answers(2), send: clientFrame(1, 'after') }],
      (x) => x.frames.length === 1,
      { statuses: [200, 101], bodies: [huge(7)], frames: ['echo:after'] },
    ],
  ])('%s', async (_name, steps, done, expected) => {
    expect(await converse(port, steps, done)).toEqual(expected);
  });
});
