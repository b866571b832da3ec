/**
 * What waits in a Connection's two queues while permessage-deflate runs
 * asynchronously (lib/connection.ts): received events in arrival order, and
 * sends in send order.
 */
import type { ProtocolError } from '../errors';
import type { OutputHold } from './output-hold';

export enum PendingKind {
  MESSAGE = 0,
  CLOSE = 1,
  /** Bytes read but not parsed yet: the queue was full (see MAX_PENDING_IN). */
  BYTES = 2,
}

/** A received event whose delivery waits on decompression, kept in arrival order. */
export interface PendingEvent {
  kind: PendingKind;
  /** MESSAGE: the payload once ready; BYTES: the unparsed bytes. */
  data: Buffer | null;
  isBinary: boolean;
  ready: boolean;
  error: ProtocolError | null;
  /** CLOSE: the peer's code and reason, parsed (and checked) when the frame arrived. */
  code: number;
  reason: string;
}

/** A message being compressed, or the frames queued behind one (to keep order). */
export interface PendingSend {
  opcode: number;
  /** The message (its compressed form once ready). */
  data: Buffer | null;
  /** Or: frames encoded behind a compression, back to back (small ones cost their bytes, not an entry each). */
  hold: OutputHold | null;
  compressed: boolean;
  ready: boolean;
  /** What it counts in pendingBytes while queued: its bytes (before compression) plus PENDING_SEND_COST. */
  size: number;
}

/** Shared empty queues; replaced by a connection's own array on first push. */
export const NO_EVENTS: PendingEvent[] = [];
export const NO_SENDS: PendingSend[] = [];

/**
 * Most received events one connection queues behind a decompression. Past
 * it, the rest of the read waits unparsed until the queue drains: a peer
 * sending thousands of tiny compressed messages in one read would otherwise
 * make each cost hundreds of bytes of queue entries (about 50x what it sent).
 */
export const MAX_PENDING_IN = 32;

/**
 * What a queued send costs beyond its bytes (entry, callback, zlib job, the
 * message's Buffer object): counted in bufferedAmount so maxBackpressure
 * bounds the memory of many tiny sends behind a compression, not only
 * their bytes.
 */
export const PENDING_SEND_COST = 256;

/** A queue entry for bytes that wait unparsed. */
export function bytesEvent(data: Buffer): PendingEvent {
  return { kind: PendingKind.BYTES, data, isBinary: false, ready: true, error: null, code: 0, reason: '' };
}
