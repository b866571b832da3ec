/**
 * Options shared by server routes and clients, with bounded defaults. Coerced
 * once into a plain object of fixed shape (house style: stable shapes).
 */
import type { DeflateOptions } from '../frame/deflate-params';
import { UsageError } from '../errors';

export interface SocketOptions {
  /** Largest message accepted, in bytes, after decompression (1009 past it). Default 16 MiB. */
  maxPayloadLength?: number;
  /** Most frames in one message (1009 past it). Default 131072 (a 4 MiB message in 32-byte fragments). */
  maxFragments?: number;
  /** Close a connection that sent nothing for this many milliseconds. 0 disables. Default 120000. */
  idleTimeout?: number;
  /** Ping the peer when half the idle timeout passed without data. Default true. */
  sendPingsAutomatically?: boolean;
  /** Answer pings with pongs automatically (RFC 6455 5.5.2). Default true. */
  autoPong?: boolean;
  /** Bytes buffered for one connection above which sends are dropped. Default 16 MiB. */
  maxBackpressure?: number;
  /** Close the connection (1008) instead of dropping when over maxBackpressure. Default false. */
  closeOnBackpressureLimit?: boolean;
  /** Close the connection (1001) after this many milliseconds, whatever happens. 0 disables. Default 0. */
  maxLifetime?: number;
  /**
   * How long to wait for the peer's close frame / TCP close after sending ours, in ms. Default 10000.
   * A failed connection (RFC 6455 7.1.7) waits at most 1000 ms and stops reading after 64 KiB.
   */
  closeTimeout?: number;
  /**
   * Close with 1008 when the peer sends more than this many frames in a second: each data
   * frame (fragment), ping and pong counts; close frames do not. 0 disables. Default 0.
   */
  maxMessagesPerSecond?: number;
  /** permessage-deflate (RFC 7692): false (default), true for sensible defaults, or options. */
  compression?: boolean | (DeflateOptions & { enabled?: boolean });
}

export interface ResolvedSocketOptions {
  maxPayloadLength: number;
  maxFragments: number;
  idleTimeout: number;
  sendPingsAutomatically: boolean;
  autoPong: boolean;
  maxBackpressure: number;
  closeOnBackpressureLimit: boolean;
  maxLifetime: number;
  closeTimeout: number;
  maxMessagesPerSecond: number;
  compression: DeflateOptions | null;
}

function num(value: number | undefined, fallback: number, name: string, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new UsageError(`Option ${name} must be a number >= ${min}`);
  }
  return value;
}

/** Fill in defaults and check types once. */
export function resolveSocketOptions(o: SocketOptions = {}): ResolvedSocketOptions {
  let compression: DeflateOptions | null = null;
  if (o.compression === true) compression = {};
  else if (o.compression && typeof o.compression === 'object' && o.compression.enabled !== false) {
    compression = { ...o.compression };
  }
  return {
    maxPayloadLength: num(o.maxPayloadLength, 16 * 1024 * 1024, 'maxPayloadLength', 1),
    maxFragments: num(o.maxFragments, 131072, 'maxFragments', 1),
    idleTimeout: num(o.idleTimeout, 120_000, 'idleTimeout'),
    sendPingsAutomatically: o.sendPingsAutomatically ?? true,
    autoPong: o.autoPong ?? true,
    maxBackpressure: num(o.maxBackpressure, 16 * 1024 * 1024, 'maxBackpressure', 1),
    closeOnBackpressureLimit: o.closeOnBackpressureLimit ?? false,
    maxLifetime: num(o.maxLifetime, 0, 'maxLifetime'),
    closeTimeout: num(o.closeTimeout, 10_000, 'closeTimeout', 1),
    maxMessagesPerSecond: num(o.maxMessagesPerSecond, 0, 'maxMessagesPerSecond'),
    compression,
  };
}
