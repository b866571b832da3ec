/**
 * The shape of a conformance case, as data. A case is a list of steps the
 * raw client performs after the opening handshake, and an expectation in
 * Autobahn's terms: the event sequences that earn OK / NON-STRICT, and the
 * close behaviour (who closes, allowed codes, whether it must be clean).
 */
import { FrameSpec } from '../support/wire';

/** Autobahn's verdicts, with their meaning kept. */
export enum Verdict {
  OK = 'OK',
  NON_STRICT = 'NON-STRICT',
  INFORMATIONAL = 'INFORMATIONAL',
  UNIMPLEMENTED = 'UNIMPLEMENTED',
  FAILED = 'FAILED',
}

/** Autobahn's close-behaviour labels (behaviorClose). */
export enum CloseBehavior {
  OK = 'OK',
  WRONG_CODE = 'WRONG CODE',
  UNCLEAN = 'UNCLEAN',
  FAILED_BY_CLIENT = 'FAILED BY CLIENT',
  FAILED = 'FAILED',
  INFORMATIONAL = 'INFORMATIONAL',
}

/** What the tester observed, in order (Autobahn's `received`). */
export type Observed =
  | { kind: 'message'; data: Buffer; binary: boolean }
  | { kind: 'ping'; data: Buffer }
  | { kind: 'pong'; data: Buffer }
  | { kind: 'timeout'; tag: string };

/** One thing the raw client does. Steps run in order; `wait` may cut the run short. */
export type Step =
  /** Send one frame; `chop` splits its bytes into pieces of that size written separately. */
  | ({ op: 'frame'; chop?: number; sync?: boolean } & FrameSpec)
  /** Send a whole message, optionally fragmented into frames of `fragmentSize` payload bytes. */
  | { op: 'message'; payload: Buffer; binary: boolean; fragmentSize?: number; chop?: number; sync?: boolean }
  /** Write bytes exactly as given (direction-specific: the bytes carry their own mask bit). */
  | { op: 'raw'; bytes: Buffer }
  /**
   * Write part of one frame: the header (when `from` is 0) and payload bytes
   * [from, to). The frame is encoded by the session, so it is masked when a
   * client sends it and unmasked when a server does (used to chop a single
   * frame mid-payload in either direction). Give `frame.maskKey` so every
   * part of a masked frame uses the same key.
   */
  | { op: 'frameSlice'; frame: FrameSpec; from: number; to?: number }
  /** Send a close frame (code/reason, or a raw payload); marks "close sent by me". */
  | { op: 'close'; code?: number; reason?: Buffer | string; payload?: Buffer }
  /**
   * Wait, then record a ('timeout', tag) if the connection is still open;
   * if it is not, the remaining steps are skipped (Autobahn's continueLater).
   */
  | { op: 'wait'; ms: number; tag?: string }
  /** Drop the connection after ms if it is still up (Autobahn's killAfter). */
  | { op: 'kill'; ms: number }
  /** Start the closing handshake after ms if still open (Autobahn's closeAfter). */
  | { op: 'closeAfter'; ms: number; code?: number }
  /** Send `count` messages, each only after the previous echo arrived (9.7/9.8). */
  | { op: 'roundTrips'; count: number; payload: Buffer; binary: boolean };

/** The close behaviour a case expects (Autobahn's expectedClose). */
export interface CloseExpectation {
  /** 'me': the tester starts the closing handshake; 'server': the server must fail/close. */
  closedBy: 'me' | 'server';
  /** Close codes accepted from the server; no code at all (empty close / TCP drop) is accepted too. */
  codes: number[];
  /** The closing handshake must complete both ways before TCP goes away. */
  clean: boolean;
  /** If the wrong endpoint closed, the behaviour is FAILED as well (UTF-8 cases). */
  wrongEndpointFatal?: boolean;
}

/** Everything a case expects. */
export interface Expectation {
  /** Event sequences that earn a verdict; checked in the order OK, NON-STRICT, INFORMATIONAL. */
  outcomes: Partial<Record<Verdict.OK | Verdict.NON_STRICT | Verdict.INFORMATIONAL, Observed[]>>;
  close: CloseExpectation;
  /** The spec leaves the outcome open: the case is reported INFORMATIONAL whatever happens. */
  informational?: boolean;
  /** Don't start the closing handshake when the events match (cases with deliberate bad closes). */
  suppressAutoClose?: boolean;
}

/** permessage-deflate offer for the opening handshake (sections 12/13). */
export interface DeflateOffer {
  /** The exact Sec-WebSocket-Extensions header value to send. */
  offer: string;
}

/**
 * A deliberately broken opening handshake answer (fuzzing-server role only:
 * the tester plays the server and tests how a client reacts, RFC 6455 4.1).
 */
export interface HandshakeOverride {
  /** Status line to send instead of `HTTP/1.1 101 Switching Protocols`. */
  status?: string;
  /** Send a Sec-WebSocket-Accept that does not match the client's key. */
  wrongAccept?: boolean;
  /** Header names (lower case) to leave out of the answer. */
  omit?: string[];
  /** Extra header lines to add, verbatim. */
  extra?: string[];
}

/** One row of the catalogue. */
export interface CaseRow {
  /** Autobahn's case id, e.g. '5.3' or '6.4.1'. */
  id: string;
  description: string;
  /** RFC section the case exercises, e.g. 'RFC 6455 5.4'. */
  rfc: string;
  steps: Step[];
  expect: Expectation;
  /** Extension offer to put in the handshake; when declined, the case is UNIMPLEMENTED. */
  deflate?: DeflateOffer;
  /** Hard cap on the case (ms); the runner drops the connection after it. */
  timeoutMs?: number;
  /** Report the duration prominently (sections 9, 12). */
  reportTime?: boolean;
  /** Fuzzing-server role only: answer the client's upgrade request this way. */
  handshake?: HandshakeOverride;
}

/** Options that shape how a catalogue is generated. */
export interface CatalogueOptions {
  /** Full Autobahn sizes for section 9 (up to 16 MiB messages); quick CI sizes otherwise. */
  full: boolean;
}
