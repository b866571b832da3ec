/**
 * Bench server on the `ws` package: echo with the same type; connections on
 * /sub are subscribers and anything received on /pub is broadcast to them by
 * looping over `wss.clients` (the documented broadcast). With `--deflate`
 * permessage-deflate is negotiated and every message compressed
 * (`perMessageDeflate: { threshold: 0 }`).
 * Usage: node -r ts-node/register/transpile-only bench/servers/ws-server.ts --port 0 [--deflate]
 */
import { WebSocketServer, WebSocket } from 'ws';
import { portFromArgs, serveControl, hasFlag } from './control';

const SUBSCRIBER = Symbol('subscriber');
type Tagged = WebSocket & { [SUBSCRIBER]?: boolean };

const wss = new WebSocketServer({
  port: portFromArgs(),
  host: '127.0.0.1',
  perMessageDeflate: hasFlag('deflate') ? { threshold: 0 } : false,
  clientTracking: true,
});

wss.on('connection', (ws: Tagged, req) => {
  ws.on('error', () => {});
  if (req.url === '/sub') {
    ws[SUBSCRIBER] = true;
  } else if (req.url === '/pub') {
    ws.on('message', (data, isBinary) => {
      wss.clients.forEach((client) => {
        if ((client as Tagged)[SUBSCRIBER] && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      });
    });
  } else {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  }
});

wss.on('listening', () => {
  const addr = wss.address();
  serveControl(typeof addr === 'object' && addr !== null ? addr.port : 0, () => wss.close(), (cmd) => (cmd === 'conns' ? `CONNS=${wss.clients.size}` : undefined));
});
