/**
 * permessage-deflate negotiation (RFC 7692 5, 7.1), pure: the client's offer,
 * the server's choice among offers, the client's check of the answer, and
 * the options both sides configure it with. The codec that runs zlib with
 * the agreed parameters is a runtime resource and lives in lib/deflate/.
 *
 * Window bits 8 are accepted in both directions: zlib cannot deflate with an
 * 8-bit window (Node silently uses 9), but a 9-bit zlib stream only
 * references the last 256 bytes (its window minus MIN_LOOKAHEAD, 512 - 262),
 * so it is valid for a peer that inflates with an 8-bit window (see
 * lib/deflate/codec.ts).
 */

import { CloseCode } from './close-codes';
import { ExtensionOffer, parseExtensionHeader } from './extension-header';
import { ProtocolError, UsageError } from '../errors';

/** The registered extension name (RFC 7692 7). */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** Default {@link DeflateOptions.threshold}. */
export const DEFAULT_THRESHOLD = 1024;
/**
 * Default zlib level: 1, the fastest. On a server, compression is CPU spent
 * per message: with level 1, 64 KiB compressed echo runs at 3.3x ws (which
 * uses zlib's default 6) in bench/deflate.ts, for a slightly larger output.
 * Set `level: 6` (or 9) to trade CPU for ratio.
 */
export const DEFAULT_LEVEL = 1;
/** Default zlib memLevel (zlib's default). */
export const DEFAULT_MEM_LEVEL = 8;
/** Default process-wide zlib concurrency (as ws). */
export const DEFAULT_CONCURRENCY_LIMIT = 10;

/** Configuration for negotiation and for the codec. All fields optional. */
export interface DeflateOptions {
  /**
   * Server: always answer with server_no_context_takeover. Client: request it.
   * Default false.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: always answer with client_no_context_takeover. Client: offer it
   * (promising not to use context takeover). Default false.
   */
  clientNoContextTakeover?: boolean;
  /**
   * Server: the largest window the server compresses with (answered when
   * below 15 or when the client asked). Client: request this window from the
   * server (offered only when below 15). 8..15, default 15.
   */
  serverMaxWindowBits?: number;
  /**
   * Server: a number below 15 limits the client's window; offers that cannot
   * carry that limit (no client_max_window_bits) are declined. Client: `true`
   * (default) offers the parameter without a value, a number offers that
   * limit, `false` does not offer it.
   */
  clientMaxWindowBits?: number | boolean;
  /** Messages smaller than this should be sent uncompressed (applied by the caller, see PerMessageDeflate.threshold in lib/deflate/codec.ts). Default 1024. */
  threshold?: number;
  /** zlib compression level, -1..9. Default 1 (fastest; see DEFAULT_LEVEL). */
  level?: number;
  /** zlib memLevel for the deflater, 1..9. Default 8. Lower saves memory per connection. */
  memLevel?: number;
  /**
   * Maximum concurrent zlib jobs process-wide (all instances share one
   * limiter, because the thread pool is shared). The last value given wins.
   * Default 10.
   */
  concurrencyLimit?: number;
}

/** Parameters agreed in the handshake (RFC 7692 7.1). Window bits are 8..15. */
export interface NegotiatedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** What {@link acceptOffer} agreed to. */
export interface AcceptedOffer {
  params: NegotiatedParams;
  /** The `Sec-WebSocket-Extensions` response value, e.g. `permessage-deflate; server_max_window_bits=10`. */
  header: string;
}

// ---------------------------------------------------------------------------
// Negotiation
// ---------------------------------------------------------------------------

/** RFC 7692 7.1.2.1/7.1.2.2: a decimal integer 8..15 without leading zeros. */
const WINDOW_BITS_RE = /^(?:8|9|1[0-5])$/;

/** One permessage-deflate element's parameters, checked against RFC 7692 7.1. */
interface ParsedParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** Undefined when absent. */
  serverMaxWindowBits: number | undefined;
  /** Undefined when absent, `true` when present without a value (offers only). */
  clientMaxWindowBits: number | true | undefined;
}

/**
 * Validates an element's parameters; returns a reason string when invalid.
 * `isOffer` allows client_max_window_bits without a value (RFC 7692 7.1.2.2).
 */
function readParams(params: ReadonlyArray<[string, string | true]>, isOffer: boolean): ParsedParams | string {
  const out: ParsedParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [key, value] of params) {
    // RFC 7692 7: multiple parameters with the same name -> decline / fail
    if (seen.has(key)) return `duplicate parameter ${key}`;
    seen.add(key);
    switch (key) {
      case 'server_no_context_takeover':
      case 'client_no_context_takeover':
        // RFC 7692 7.1.1.1/7.1.1.2: these parameters have no value
        if (value !== true) return `${key} must not have a value`;
        if (key === 'server_no_context_takeover') out.serverNoContextTakeover = true;
        else out.clientNoContextTakeover = true;
        break;
      case 'server_max_window_bits':
        if (value === true || !WINDOW_BITS_RE.test(value)) return `invalid ${key}`;
        out.serverMaxWindowBits = Number(value);
        break;
      case 'client_max_window_bits':
        if (value === true) {
          // RFC 7692 7.1.2.2: valueless only in an offer
          if (!isOffer) return `${key} must have a value in a response`;
          out.clientMaxWindowBits = true;
        } else {
          if (!WINDOW_BITS_RE.test(value)) return `invalid ${key}`;
          out.clientMaxWindowBits = Number(value);
        }
        break;
      default:
        return `unknown parameter ${key}`;
    }
  }
  return out;
}

/** A window-bits option or parameter must be an integer 8..15 (RFC 7692 7.1.2); UsageError otherwise. */
export function checkWindowBits(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 8 || v > 15) {
    throw new UsageError(`${name} must be an integer 8..15, got ${String(v)}`);
  }
}

/** Validates the negotiation-related options (local misuse -> UsageError). */
function checkNegotiationOptions(o: DeflateOptions): void {
  if (o.serverMaxWindowBits !== undefined) checkWindowBits('serverMaxWindowBits', o.serverMaxWindowBits);
  if (typeof o.clientMaxWindowBits === 'number') checkWindowBits('clientMaxWindowBits', o.clientMaxWindowBits);
  else if (o.clientMaxWindowBits !== undefined && typeof o.clientMaxWindowBits !== 'boolean') {
    throw new UsageError('clientMaxWindowBits must be a number 8..15 or a boolean');
  }
}

/** The server window a client asks for, or undefined when it does not ask (15 = no limit). */
function offeredServerWindow(o: DeflateOptions): number | undefined {
  return o.serverMaxWindowBits !== undefined && o.serverMaxWindowBits < 15 ? o.serverMaxWindowBits : undefined;
}

/**
 * Server: picks the first acceptable permessage-deflate offer (RFC 7692 5.1,
 * 7.1). Offers with unknown, duplicate or invalid parameters are declined and
 * the next one is tried. Returns null when none is acceptable (answer
 * without the extension).
 *
 * The answer carries: server_no_context_takeover when the client asked or
 * `options.serverNoContextTakeover`; client_no_context_takeover when the
 * client offered it (it already promised, and echoing lets us reset the
 * inflater) or `options.clientNoContextTakeover`; server_max_window_bits =
 * min(requested, options) when requested or when options limit it;
 * client_max_window_bits = min(offered value, options) when below 15, and
 * only if the client offered the parameter. With a numeric
 * `options.clientMaxWindowBits` below 15, offers without
 * client_max_window_bits are declined: the client's window cannot be limited.
 *
 * @throws UsageError on invalid options.
 */
export function acceptOffer(offers: ReadonlyArray<ExtensionOffer>, options: DeflateOptions = {}): AcceptedOffer | null {
  checkNegotiationOptions(options);
  const ownServerLimit = options.serverMaxWindowBits ?? 15;
  const ownClientLimit = typeof options.clientMaxWindowBits === 'number' ? options.clientMaxWindowBits : 15;
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const p = readParams(offer.params, true);
    if (typeof p === 'string') continue;

    let clientWindow = 15;
    if (p.clientMaxWindowBits === undefined) {
      // RFC 7692 7.1.2.2: without the parameter in the offer we must not send it
      if (ownClientLimit < 15) continue;
    } else {
      clientWindow = Math.min(p.clientMaxWindowBits === true ? 15 : p.clientMaxWindowBits, ownClientLimit);
    }
    // RFC 7692 7.1.2.1: same or smaller than requested. Any value is
    // satisfiable: a smaller window is always possible (8 as explained above).
    const serverWindow = Math.min(p.serverMaxWindowBits ?? 15, ownServerLimit);
    const params: NegotiatedParams = {
      serverNoContextTakeover: p.serverNoContextTakeover || options.serverNoContextTakeover === true,
      clientNoContextTakeover: p.clientNoContextTakeover || options.clientNoContextTakeover === true,
      serverMaxWindowBits: serverWindow,
      clientMaxWindowBits: clientWindow,
    };
    let header = PERMESSAGE_DEFLATE;
    if (params.serverNoContextTakeover) header += '; server_no_context_takeover';
    if (params.clientNoContextTakeover) header += '; client_no_context_takeover';
    if (p.serverMaxWindowBits !== undefined || serverWindow < 15) header += `; server_max_window_bits=${serverWindow}`;
    if (clientWindow < 15) header += `; client_max_window_bits=${clientWindow}`;
    return { params, header };
  }
  return null;
}

/**
 * Client: the `Sec-WebSocket-Extensions` offer for `options`, a single
 * permessage-deflate element. By default `permessage-deflate; client_max_window_bits`.
 *
 * @throws UsageError on invalid options.
 */
export function buildOffer(options: DeflateOptions = {}): string {
  checkNegotiationOptions(options);
  let header = PERMESSAGE_DEFLATE;
  if (options.serverNoContextTakeover === true) header += '; server_no_context_takeover';
  if (options.clientNoContextTakeover === true) header += '; client_no_context_takeover';
  const serverWindow = offeredServerWindow(options);
  if (serverWindow !== undefined) header += `; server_max_window_bits=${serverWindow}`;
  const cmwb = options.clientMaxWindowBits;
  if (cmwb === undefined || cmwb === true) header += '; client_max_window_bits';
  else if (typeof cmwb === 'number') header += `; client_max_window_bits=${cmwb}`;
  return header;
}

/**
 * Client: validates the server's `Sec-WebSocket-Extensions` answer to
 * {@link buildOffer}`(options)` (RFC 7692 7.1). Returns null when the header
 * is absent or lists no extension (the server declined: no compression).
 *
 * @throws ProtocolError 1002 (fail the connection) when the header is
 * malformed, lists anything but exactly one permessage-deflate, has unknown,
 * duplicate or invalid parameters, omits server_no_context_takeover or
 * server_max_window_bits that we requested, answers a larger
 * server_max_window_bits than requested, or sends client_max_window_bits we
 * did not offer or larger than we offered.
 * @throws UsageError on invalid options.
 */
export function acceptResponse(header: string | undefined, options: DeflateOptions = {}): NegotiatedParams | null {
  checkNegotiationOptions(options);
  if (header === undefined) return null;
  let list: ExtensionOffer[];
  try {
    list = parseExtensionHeader(header);
  } catch (err) {
    throw new ProtocolError(CloseCode.PROTOCOL_ERROR, (err as Error).message);
  }
  if (list.length === 0) return null;
  const fail = (why: string): never => {
    throw new ProtocolError(CloseCode.PROTOCOL_ERROR, `Sec-WebSocket-Extensions response: ${why}`);
  };
  // RFC 6455 9.1: the server may only answer with extensions the client offered
  if (list.length !== 1) fail('more than one extension accepted');
  if (list[0].name !== PERMESSAGE_DEFLATE) fail(`extension not offered: ${list[0].name}`);
  const p = readParams(list[0].params, false);
  if (typeof p === 'string') return fail(p);

  // RFC 7692 7.1.1.1: accepting an offer with server_no_context_takeover means echoing it
  if (options.serverNoContextTakeover === true && !p.serverNoContextTakeover) {
    fail('server_no_context_takeover requested but not acknowledged');
  }
  const askedServer = offeredServerWindow(options);
  if (askedServer !== undefined) {
    // RFC 7692 7.1.2.1: the answer must carry the same or a smaller value
    if (p.serverMaxWindowBits === undefined) fail('server_max_window_bits requested but not acknowledged');
    else if (p.serverMaxWindowBits > askedServer) fail('server_max_window_bits larger than requested');
  }
  const cmwb = options.clientMaxWindowBits;
  const offeredClient = cmwb === undefined || cmwb === true || typeof cmwb === 'number';
  let clientWindow = typeof cmwb === 'number' ? cmwb : 15;
  if (p.clientMaxWindowBits !== undefined) {
    // RFC 7692 7.1.2.2: only allowed if offered
    if (!offeredClient) fail('client_max_window_bits not offered');
    const v = p.clientMaxWindowBits as number;
    if (v > clientWindow) fail('client_max_window_bits larger than offered');
    clientWindow = v;
  }
  return {
    serverNoContextTakeover: p.serverNoContextTakeover,
    // RFC 7692 7.1.1.2: offering it is a promise, so it binds us either way
    clientNoContextTakeover: p.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits: p.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: clientWindow,
  };
}
