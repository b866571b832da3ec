/**
 * The memory floor: a bare `node:net` server that answers any upgrade with a
 * fixed 101 (accept key computed) and then does nothing with the socket.
 * Usage: node -r ts-node/register/transpile-only bench/servers/bare-server.ts --port 0
 */
import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { portFromArgs, serveControl } from './control';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /\r\nsec-websocket-key:\s*([^\r\n]+)/i;
const sockets = new Set<net.Socket>();

const server = net.createServer((sock) => {
  sockets.add(sock);
  let head = '';
  const onData = (chunk: Buffer): void => {
    head += chunk.toString('latin1');
    if (head.indexOf('\r\n\r\n') < 0) return;
    sock.removeListener('data', onData);
    const m = KEY.exec(head);
    if (m === null) {
      sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(m[1].trim() + GUID).digest('base64');
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    head = '';
  };
  sock.on('data', onData);
  sock.on('error', () => {});
  sock.on('close', () => sockets.delete(sock));
});

server.listen(portFromArgs(), '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  serveControl(addr.port, () => server.close(), (cmd) => (cmd === 'conns' ? `CONNS=${sockets.size}` : undefined));
});
