/**
 * The HTTP baseline: a plain `node:http` server answering every request with
 * "hello" as text/plain (what the Xyra server's `app.get('/')` returns).
 * Usage: node bench/servers/node-server.ts --port 0
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { portFromArgs, serveControl } from './control';

const BODY = 'hello';

const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': BODY.length });
  res.end(BODY);
});

server.listen(portFromArgs(), '127.0.0.1', () => {
  serveControl((server.address() as AddressInfo).port, () => server.close());
});
