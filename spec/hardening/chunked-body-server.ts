/**
 * Child process for chunked-body.test.ts: an App with default limits, driven
 * over IPC, so the server's memory is measured alone (no jest, no client).
 *
 *   node --expose-gc -r ts-node/register/transpile-only chunked-body-server.ts route|none
 *
 * `route`: a POST route at /upload; `none`: no HTTP route at all.
 * Messages in: 'baseline' | 'measure' | 'bytesRead' | 'exit'. Messages out:
 * { port } once listening, then { bytesRead, retained? } per request, where
 * retained = (heapUsed + external) after GC minus the same at 'baseline'.
 */
import type * as net from 'node:net';
import { App } from '../../lib/app';

const gc = (global as unknown as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function used(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.external; // external includes arrayBuffers
}

const app = new App({ onError: () => {} });
if (process.argv[2] === 'route') app.post('/upload', (req, res) => res.text(String(req.body.length)));

let bytesRead = 0;
const sockets = new Set<net.Socket>();
let baseline = 0;

function totalRead(): number {
  let n = bytesRead;
  for (const s of sockets) n += s.bytesRead;
  return n;
}

app.listen(0, '127.0.0.1').then((port) => {
  const server = (app as unknown as { server: net.Server }).server;
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => {
      bytesRead += s.bytesRead;
      sockets.delete(s);
    });
  });
  process.send!({ port });
});

process.on('message', (msg: string) => {
  if (msg === 'baseline') {
    baseline = used();
    process.send!({ bytesRead: totalRead() });
  } else if (msg === 'measure') {
    const retained = used() - baseline;
    process.send!({ bytesRead: totalRead(), retained });
  } else if (msg === 'bytesRead') {
    process.send!({ bytesRead: totalRead() });
  } else if (msg === 'exit') {
    void app.close().then(() => process.exit(0));
  }
});
