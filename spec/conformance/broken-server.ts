/**
 * A tiny raw WebSocket echo server with switchable defects, to prove that
 * the runner fails exactly the cases that check a rule and passes the rest.
 * With every defect off it is a small but strict RFC 6455 server (fail-fast
 * UTF-8 per frame, close code checks, control frame rules). Test-only code.
 */
import * as net from 'net';
import { createHash } from 'crypto';
import { AddressInfo } from 'net';
import { closePayload, encodeFrame } from './frame-builder';
import { FrameReader, ReadFrame } from './frame-reader';

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

function validCloseCode(code: number): boolean {
  // RFC 6455 7.4.1/7.4.2 plus IANA's 1012-1014.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

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
  const pec = d.protocolErrorCode ?? 1002;
  const reader = new FrameReader();
  let head = Buffer.alloc(0);
  let open = false;
  let done = false;
  let msgOpcode = -1;
  let parts: Buffer[] = [];
  let decoder: InstanceType<typeof TextDecoder> | null = null;

  const send = (opcode: number, payload: Buffer): void => {
    if (!socket.destroyed) socket.write(encodeFrame({ opcode, payload, mask: false }).bytes);
  };
  const fail = (code: number): void => {
    if (done) return;
    done = true;
    send(8, closePayload(code));
    socket.end();
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
    if (!f.masked) return fail(pec); // RFC 6455 5.1
    if (f.rsv !== 0 && !d.acceptRsv) return fail(pec);
    if ((f.opcode > 2 && f.opcode < 8) || f.opcode > 10) return fail(pec);
    if (f.opcode >= 8) {
      if (!f.fin || f.payload.length > 125) return fail(pec); // RFC 6455 5.5
      if (f.opcode === 9) {
        if (!d.noPong) send(10, f.payload);
        return;
      }
      if (f.opcode === 10) return;
      const p = f.payload;
      if (p.length === 1) return fail(pec);
      if (p.length >= 2) {
        if (!validCloseCode(p.readUInt16BE(0))) return fail(pec);
        if (!d.skipUtf8) {
          try {
            new TextDecoder('utf-8', { fatal: true }).decode(p.subarray(2));
          } catch {
            return fail(1007);
          }
        }
      }
      done = true;
      send(8, closePayload(p.length >= 2 ? p.readUInt16BE(0) : 1000));
      socket.end();
      return;
    }
    if (f.opcode === 0) {
      if (msgOpcode < 0) return fail(pec);
    } else {
      if (msgOpcode >= 0) return fail(pec);
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
