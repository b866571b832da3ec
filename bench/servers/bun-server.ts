/**
 * Bench server on Bun (only used when a `bun` binary exists): echo with the
 * same type; /sub subscribes to 'bench'; /pub publishes what it receives with
 * `server.publish`; a plain GET (no upgrade) answers "hello". With
 * `--deflate` permessage-deflate is negotiated.
 * Usage: bun bench/servers/bun-server.ts --port 0 [--deflate]
 */
import { portFromArgs, serveControl, hasFlag } from './control';

// Bun compresses a message only when send()/publish() is asked to.
const COMPRESS = hasFlag('deflate');

// Bun's globals are not in @types/node; this file only runs under bun.
declare const Bun: any;

const server = Bun.serve({
  port: portFromArgs(),
  hostname: '127.0.0.1',
  fetch(req: Request, srv: any) {
    if (req.headers.get('upgrade') === null) return new Response('hello');
    const path = new URL(req.url).pathname;
    if (srv.upgrade(req, { data: { path } })) return undefined;
    return new Response('upgrade failed', { status: 400 });
  },
  websocket: {
    perMessageDeflate: COMPRESS,
    idleTimeout: 0,
    open(ws: any) {
      if (ws.data.path === '/sub') ws.subscribe('bench');
    },
    message(ws: any, msg: string | Uint8Array) {
      if (ws.data.path === '/pub') server.publish('bench', msg, COMPRESS);
      else if (ws.data.path !== '/sub') ws.send(msg, COMPRESS);
    },
  },
});

serveControl(server.port, () => server.stop(true));
