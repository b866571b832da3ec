/**
 * A tiny raw WebSocket echo client with switchable defects, the mirror of
 * broken-server.ts: it proves that the fuzzing server fails exactly the
 * cases that check a rule and passes the rest. With every defect off it is a
 * small but strict RFC 6455 client (checks the 101 answer, rejects masked
 * frames, fail-fast UTF-8 per frame, close code checks). Test-only code.
 */
import * as net from 'net';
import { createHash, randomBytes } from 'crypto';
import { closePayload, encodeFrame } from './frame-builder';
import { FrameReader, ReadFrame } from './frame-reader';

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

function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

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
  let done = false;
  let msgOpcode = -1;
  let parts: Buffer[] = [];
  let decoder: InstanceType<typeof TextDecoder> | null = null;

  const send = (opcode: number, payload: Buffer): void => {
    if (!socket.destroyed) socket.write(encodeFrame({ opcode, payload }).bytes); // masked: RFC 6455 5.3
  };
  const fail = (code: number): void => {
    if (done) return;
    done = true;
    send(8, closePayload(code));
  };
  const text = (b: Buffer, last: boolean): boolean => {
    if (d.skipUtf8 || !decoder) return true;
    try {
      decoder.decode(b, { stream: !last });
      return true;
    } catch {
      return false;
    }
  };
  const onFrame = (f: ReadFrame): void => {
    if (done) return;
    if (f.masked && !d.acceptMasked) return fail(1002);
    if (f.rsv !== 0) return fail(1002);
    if ((f.opcode > 2 && f.opcode < 8) || f.opcode > 10) return fail(1002);
    if (f.opcode >= 8) {
      if (!f.fin || f.payload.length > 125) return fail(1002);
      if (f.opcode === 9) {
        if (!d.noPong) send(10, f.payload);
        return;
      }
      if (f.opcode === 10) return;
      const p = f.payload;
      if (p.length === 1) return fail(1002);
      if (p.length >= 2) {
        if (!validCloseCode(p.readUInt16BE(0))) return fail(1002);
        if (!d.skipUtf8) {
          try {
            new TextDecoder('utf-8', { fatal: true }).decode(p.subarray(2));
          } catch {
            return fail(1007);
          }
        }
      }
      done = true;
      if (!d.noCloseReply) send(8, closePayload(p.length >= 2 ? p.readUInt16BE(0) : 1000));
      return;
    }
    if (f.opcode === 0) {
      if (msgOpcode < 0) return fail(1002);
    } else {
      if (msgOpcode >= 0) return fail(1002);
      msgOpcode = f.opcode;
      parts = [];
      decoder = f.opcode === 1 ? new TextDecoder('utf-8', { fatal: true }) : null;
    }
    parts.push(f.payload);
    if (!text(f.payload, f.fin)) return fail(1007);
    if (f.fin) {
      send(msgOpcode, Buffer.concat(parts));
      msgOpcode = -1;
      parts = [];
    }
  };
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
