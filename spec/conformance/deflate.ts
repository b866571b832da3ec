/**
 * The tester's own permessage-deflate (RFC 7692) on node:zlib, for sections
 * 12 and 13. Independent of Xyra's frame/permessage-deflate.ts on purpose.
 */
import * as zlib from 'node:zlib';

/** Parameters the server accepted (RFC 7692 7.1). */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/**
 * Parse the server's Sec-WebSocket-Extensions answer. Returns null unless it
 * is exactly one permessage-deflate with known parameters.
 */
export function parseDeflateResponse(header: string): DeflateParams | null {
  const exts = header.split(',').map((s) => s.trim()).filter(Boolean);
  if (exts.length !== 1) return null;
  const [name, ...params] = exts[0].split(';').map((s) => s.trim());
  if (name !== 'permessage-deflate') return null;
  const out: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
  for (const p of params) {
    const [k, raw] = p.split('=').map((s) => s.trim());
    const v = raw === undefined ? undefined : Number(raw.replace(/^"|"$/g, ''));
    if (k === 'server_no_context_takeover') out.serverNoContextTakeover = true;
    else if (k === 'client_no_context_takeover') out.clientNoContextTakeover = true;
    else if (k === 'server_max_window_bits' && v !== undefined && v >= 8 && v <= 15) out.serverMaxWindowBits = v;
    else if (k === 'client_max_window_bits' && v !== undefined && v >= 8 && v <= 15) out.clientMaxWindowBits = v;
    else return null;
  }
  return out;
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Run `data` through a zlib stream and collect the output of one sync flush. */
function flushThrough(stream: zlib.DeflateRaw | zlib.InflateRaw, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer): void => {
      chunks.push(c);
    };
    const onError = (e: Error): void => {
      stream.removeListener('data', onData);
      reject(e);
    };
    stream.on('data', onData);
    stream.once('error', onError);
    stream.write(data);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      stream.removeListener('data', onData);
      stream.removeListener('error', onError);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** One connection's compression state (both directions). */
export class DeflateContext {
  private deflater: zlib.DeflateRaw | null = null;
  private inflater: zlib.InflateRaw | null = null;

  constructor(readonly params: DeflateParams) {}

  /** Compress one message payload (RFC 7692 7.2.1: drop the trailing 00 00 ff ff). */
  async compress(payload: Buffer): Promise<Buffer> {
    if (!this.deflater || this.params.clientNoContextTakeover) {
      this.deflater?.close();
      // zlib refuses raw windowBits 8; 9 still fits inside an 8-bit window agreement's spirit for tests.
      this.deflater = zlib.createDeflateRaw({ windowBits: Math.max(9, this.params.clientMaxWindowBits) });
    }
    const out = await flushThrough(this.deflater, payload);
    return out.length >= 4 && out.subarray(out.length - 4).equals(TAIL) ? out.subarray(0, out.length - 4) : out;
  }

  /** Inflate one received message payload (RFC 7692 7.2.2: append 00 00 ff ff). */
  async decompress(payload: Buffer): Promise<Buffer> {
    if (!this.inflater || this.params.serverNoContextTakeover) {
      this.inflater?.close();
      // A 15-bit window inflates anything a smaller window produced.
      this.inflater = zlib.createInflateRaw({ windowBits: 15 });
    }
    return flushThrough(this.inflater, Buffer.concat([payload, TAIL]));
  }

  /** Release the zlib streams. */
  dispose(): void {
    this.deflater?.close();
    this.inflater?.close();
    this.deflater = null;
    this.inflater = null;
  }
}

/** One permessage-deflate offer from a client, parsed; null if it has unknown or invalid parameters. */
interface ClientOffer {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** undefined: not offered; true: offered without a value; number: offered with a value. */
  clientMaxWindowBits: undefined | true | number;
  serverMaxWindowBits: number | undefined;
}

function parseOffer(params: string[]): ClientOffer | null {
  const o: ClientOffer = { serverNoContextTakeover: false, clientNoContextTakeover: false, clientMaxWindowBits: undefined, serverMaxWindowBits: undefined };
  const seen = new Set<string>();
  for (const p of params) {
    const [k, raw] = p.split('=').map((s) => s.trim());
    if (seen.has(k)) return null; // RFC 7692 7: a duplicate parameter makes the offer invalid
    seen.add(k);
    const v = raw === undefined ? undefined : raw.replace(/^"|"$/g, '');
    const bits = v !== undefined && /^\d+$/.test(v) && Number(v) >= 8 && Number(v) <= 15 ? Number(v) : null;
    if (k === 'server_no_context_takeover' && v === undefined) o.serverNoContextTakeover = true;
    else if (k === 'client_no_context_takeover' && v === undefined) o.clientNoContextTakeover = true;
    else if (k === 'client_max_window_bits' && v === undefined) o.clientMaxWindowBits = true;
    else if (k === 'client_max_window_bits' && bits !== null) o.clientMaxWindowBits = bits;
    else if (k === 'server_max_window_bits' && bits !== null) o.serverMaxWindowBits = bits;
    else return null;
  }
  return o;
}

/** The server's answer to a client's permessage-deflate offer. */
export interface DeflateAnswer {
  /** Sec-WebSocket-Extensions value to send. */
  header: string;
  /** Parameters in effect (RFC 7692 7.1), as the client will see them. */
  params: DeflateParams;
}

/**
 * Fuzzing-server role: answer the client's Sec-WebSocket-Extensions offer the
 * way a case wants, like Autobahn's SERVER_ACCEPT functions. `wanted` is the
 * case's offer string read as the server's wishes, alternatives separated by
 * ',' and tried in order (13.7): `client_no_context_takeover` is always
 * allowed in an answer (RFC 7692 7.1.1.2); `client_max_window_bits=N` only
 * if the client offered client_max_window_bits (7.1.2.2). The client's own
 * server_* requests are honoured (7.1.1.1, 7.1.2.1), except
 * server_max_window_bits=8, which zlib cannot produce for raw deflate.
 * Returns null when no client offer fits (the case is then UNIMPLEMENTED).
 */
export function answerDeflateOffer(clientHeader: string | undefined, wanted: string): DeflateAnswer | null {
  if (!clientHeader) return null;
  const offers: ClientOffer[] = [];
  for (const ext of clientHeader.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [name, ...params] = ext.split(';').map((s) => s.trim());
    if (name !== 'permessage-deflate') continue;
    const o = parseOffer(params);
    if (o !== null) offers.push(o);
  }
  const alternatives = wanted.split(',').map((alt) => alt.split(';').map((s) => s.trim()).slice(1));
  for (const alt of alternatives) {
    const noContext = alt.includes('client_no_context_takeover');
    const windowParam = alt.find((p) => p.startsWith('client_max_window_bits'));
    const wantBits = windowParam ? Number(windowParam.split('=')[1] ?? 15) : undefined;
    for (const o of offers) {
      if (wantBits !== undefined && o.clientMaxWindowBits === undefined) continue;
      if (o.serverMaxWindowBits === 8) continue;
      const parts = ['permessage-deflate'];
      if (o.serverNoContextTakeover) parts.push('server_no_context_takeover');
      if (noContext) parts.push('client_no_context_takeover');
      if (o.serverMaxWindowBits !== undefined) parts.push(`server_max_window_bits=${o.serverMaxWindowBits}`);
      let clientBits = 15;
      if (wantBits !== undefined) {
        clientBits = typeof o.clientMaxWindowBits === 'number' ? Math.min(wantBits, o.clientMaxWindowBits) : wantBits;
        parts.push(`client_max_window_bits=${clientBits}`);
      } else if (typeof o.clientMaxWindowBits === 'number') {
        clientBits = o.clientMaxWindowBits; // the client limited itself; a smaller window still inflates with 15
      }
      return {
        header: parts.join('; '),
        params: {
          serverNoContextTakeover: o.serverNoContextTakeover,
          clientNoContextTakeover: noContext || o.clientNoContextTakeover,
          serverMaxWindowBits: o.serverMaxWindowBits ?? 15,
          clientMaxWindowBits: clientBits,
        },
      };
    }
  }
  return null;
}
