/**
 * A tiny raw WebSocket echo client with switchable defects, the mirror of
 * broken-server.ts: it proves that the fuzzing server fails exactly the
 * cases that check a rule and passes the rest. With every defect off it is a
 * small but strict RFC 6455 client (checks the 101 answer, rejects masked
 * frames, fail-fast UTF-8 per frame, close code checks). Test-only code.
 */
import * as net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { encodeFrame, FrameReader } from '../support/wire';
import { brokenEcho } from './broken-echo';

/** The defects that can be switched on. */
export interface ClientDefects {
  /** Never validate UTF-8 (text messages, close reasons). */
  skipUtf8?: boolean;
  /** Accept masked frames from the server. */
  acceptMasked?: boolean;
  /** Never answer pings. */
  noPong?: boolean;
  /** Accept any 101 answer without checking accept, extensions or subprotocol. */
  trustHandshake?: boolean;
  /** Never answer the server's close frame. */
  noCloseReply?: boolean;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Connect to `url`, echo until the connection ends (or capMs), then resolve. */
export function runBrokenEcho(url: string, d: ClientDefects, capMs: number): Promise<void> {
  const u = new URL(url);
  const socket = net.connect({ host: u.hostname, port: Number(u.port) });
  socket.on('error', () => undefined);
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  const reader = new FrameReader();
  let head = Buffer.alloc(0);
  let open = false;
  const onFrame = brokenEcho(
    {
      peerMasks: false,
      send: (opcode, payload) => {
        if (!socket.destroyed) socket.write(encodeFrame({ opcode, payload }).bytes); // masked: RFC 6455 5.3
      },
      closeSent: () => undefined, // RFC 6455 7.1.1: the server drops TCP first
    },
    d,
  );
  const checkHead = (h: string): boolean => {
    const [status, ...lines] = h.split('\r\n');
    if (!/^HTTP\/1\.1 101\b/.test(status)) return false;
    if (d.trustHandshake) return true;
    const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).trim().toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    return (
      (headers.get('upgrade') ?? '').toLowerCase() === 'websocket' &&
      /\bupgrade\b/i.test(headers.get('connection') ?? '') &&
      headers.get('sec-websocket-accept') === accept &&
      !headers.has('sec-websocket-extensions') &&
      !headers.has('sec-websocket-protocol')
    );
  };

  socket.on('connect', () => {
    socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
  socket.on('data', (chunk: Buffer) => {
    if (open) {
      for (const f of reader.push(chunk)) onFrame(f);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    if (!checkHead(head.subarray(0, end).toString('latin1'))) {
      socket.destroy(); // RFC 6455 4.1: fail the connection; no WebSocket, so no close frame
      return;
    }
    open = true;
    const rest = head.subarray(end + 4);
    if (rest.length) for (const f of reader.push(rest)) onFrame(f);
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), capMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
