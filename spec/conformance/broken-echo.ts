/**
 * The echo logic behind broken-server.ts and broken-client.ts: a small but
 * strict RFC 6455 endpoint (fail-fast UTF-8 per frame, close code checks,
 * control frame rules) with switchable defects, from either seat. They prove
 * that the runner and the fuzzing server fail exactly the cases that check a
 * rule and pass the rest. Test-only code; frames from spec/support/wire.ts.
 */
import { closePayload, ReadFrame } from '../support/wire';

/** Every defect either seat can switch on (each seat exposes its own subset). */
export interface EchoDefects {
  /** Never validate UTF-8 (text messages, close reasons). */
  skipUtf8?: boolean;
  /** Never answer pings. */
  noPong?: boolean;
  /** Accept frames masked the wrong way for the peer's seat. */
  acceptMasked?: boolean;
  /** Accept frames with RSV bits set. */
  acceptRsv?: boolean;
  /** Close code used when failing on a protocol error (a correct endpoint uses 1002). */
  protocolErrorCode?: number;
  /** Never answer the peer's close frame. */
  noCloseReply?: boolean;
}

/** What the echo needs from its seat. */
export interface EchoSeat {
  /** Whether the peer must mask its frames: true when I am the server (RFC 6455 5.1, 5.3). */
  peerMasks: boolean;
  /** Write one frame, masked as my seat requires. */
  send(opcode: number, payload: Buffer): void;
  /** My close frame is out (RFC 6455 7.1.1: a server then ends TCP, a client waits for it). */
  closeSent(): void;
}

function validCloseCode(code: number): boolean {
  // RFC 6455 7.4.1/7.4.2 plus IANA's 1012-1014.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** A frame handler that echoes messages and closes as the defects allow. */
export function brokenEcho(seat: EchoSeat, d: EchoDefects): (f: ReadFrame) => void {
  const pec = d.protocolErrorCode ?? 1002;
  let done = false;
  let msgOpcode = -1;
  let parts: Buffer[] = [];
  let decoder: InstanceType<typeof TextDecoder> | null = null;

  const fail = (code: number): void => {
    if (done) return;
    done = true;
    seat.send(8, closePayload(code));
    seat.closeSent();
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

  return (f: ReadFrame): void => {
    if (done) return;
    if (f.masked !== seat.peerMasks && !d.acceptMasked) return fail(pec);
    if (f.rsv !== 0 && !d.acceptRsv) return fail(pec);
    if ((f.opcode > 2 && f.opcode < 8) || f.opcode > 10) return fail(pec);
    if (f.opcode >= 8) {
      if (!f.fin || f.payload.length > 125) return fail(pec); // RFC 6455 5.5
      if (f.opcode === 9) {
        if (!d.noPong) seat.send(10, f.payload);
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
      if (d.noCloseReply) return;
      seat.send(8, closePayload(p.length >= 2 ? p.readUInt16BE(0) : 1000));
      seat.closeSent();
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
      seat.send(msgOpcode, Buffer.concat(parts));
      msgOpcode = -1;
      parts = [];
    }
  };
}
