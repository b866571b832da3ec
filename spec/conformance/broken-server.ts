/**
 * A tiny raw WebSocket echo server with switchable defects, to prove that
 * the runner fails exactly the cases that check a rule and passes the rest.
 * With every defect off it is a small but strict RFC 6455 server (fail-fast
 * UTF-8 per frame, close code checks, control frame rules). Test-only code.
 */
import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { AddressInfo } from 'node:net';
import { encodeFrame, FrameReader } from '../support/wire';
import { brokenEcho } from './broken-echo';

/** The defects that can be switched on. */
export interface Defects {
  /** Never validate UTF-8 (text messages, close reasons). */
  skipUtf8?: boolean;
  /** Accept frames with RSV bits set. */
  acceptRsv?: boolean;
  /** Never answer pings. */
  noPong?: boolean;
  /** Close code used when failing on a protocol error (a correct server uses 1002). */
  protocolErrorCode?: number;
}

/** A running broken server. */
export interface BrokenServer {
  url: string;
  close(): Promise<void>;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Start the server on 127.0.0.1, port 0. */
export async function startBrokenServer(defects: Defects = {}): Promise<BrokenServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    serve(socket, defects);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function serve(socket: net.Socket, d: Defects): void {
  const reader = new FrameReader();
  let head = Buffer.alloc(0);
  let open = false;
  const onFrame = brokenEcho(
    {
      peerMasks: true,
      send: (opcode, payload) => {
        if (!socket.destroyed) socket.write(encodeFrame({ opcode, payload, mask: false }).bytes);
      },
      closeSent: () => socket.end(), // RFC 6455 7.1.1: the server closes TCP first
    },
    d,
  );

  socket.on('data', (chunk: Buffer) => {
    if (open) {
      for (const f of reader.push(chunk)) onFrame(f);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    const key = /sec-websocket-key:\s*(\S+)/i.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? '';
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    open = true;
    const rest = head.subarray(end + 4);
    if (rest.length) for (const f of reader.push(rest)) onFrame(f);
  });
}
