/**
 * Options of the App's HTTP side (part of AppOptions), their defaults, and
 * their check: coerced once, when the App is created.
 */
import { compileHostList, type HostList } from '../origin-policy';
import { UsageError } from '../../errors';

/** Options of the HTTP side (part of AppOptions). */
export interface HttpOptions {
  /** Largest request body accepted, in bytes; larger ones get 413 and the connection closes. Default 1 MiB. */
  maxBodySize?: number;
  /**
   * While a request body is being read, drop the connection with 408 when no
   * bytes arrive for this many ms (a slow-body client is otherwise never timed
   * out: the App's handshake timeout only covers the head). 0 disables. Default 10000.
   */
  bodyTimeout?: number;
  /**
   * The whole request (head and body, counted from its first byte) must have
   * arrived within this many ms, else 408 and the connection closes: a body
   * trickled one byte at a time beats the idle `bodyTimeout` but not this.
   * Checked while a body is read (the head alone has the App's
   * handshakeTimeout), by the App's sweeper, so it fires up to a tick late
   * (a quarter of the timeout, 50 ms to 1 s). 0 disables. Default 300000 (as node:http).
   */
  requestTimeout?: number;
  /**
   * Host names the App answers for (DNS-rebinding guard): an HTTP request or
   * upgrade whose Host is not listed gets 421 and the connection closes. A
   * WebSocket route's own `allowedHosts` overrides it. Entries:
   * `'app.example.com'`, `'localhost:8000'` (that port only),
   * `'.example.com'` (the domain and its subdomains). Default: any Host.
   */
  allowedHosts?: string[];
}

/** {@link HttpOptions} with defaults applied. */
export interface ResolvedHttpOptions {
  maxBodySize: number;
  bodyTimeout: number;
  requestTimeout: number;
  allowedHosts: HostList | undefined;
}

/** Default for {@link HttpOptions.maxBodySize}: 1 MiB. */
export const DEFAULT_MAX_BODY_SIZE = 1024 * 1024;
/** Default for {@link HttpOptions.bodyTimeout}: 10 s. */
export const DEFAULT_BODY_TIMEOUT = 10_000;
/** Default for {@link HttpOptions.requestTimeout}: 300 s, as node:http. */
export const DEFAULT_REQUEST_TIMEOUT = 300_000;

/** Apply defaults and validate. Throws UsageError on a bad value. */
export function resolveHttpOptions(o: HttpOptions): ResolvedHttpOptions {
  const maxBodySize = o.maxBodySize ?? DEFAULT_MAX_BODY_SIZE;
  if (!Number.isSafeInteger(maxBodySize) || maxBodySize < 0) {
    throw new UsageError(`maxBodySize must be a non-negative integer, got ${String(maxBodySize)}`);
  }
  const bodyTimeout = o.bodyTimeout ?? DEFAULT_BODY_TIMEOUT;
  if (!Number.isSafeInteger(bodyTimeout) || bodyTimeout < 0) {
    throw new UsageError(`bodyTimeout must be a non-negative integer (ms), got ${String(bodyTimeout)}`);
  }
  const requestTimeout = o.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
  if (!Number.isSafeInteger(requestTimeout) || requestTimeout < 0) {
    throw new UsageError(`requestTimeout must be a non-negative integer (ms), got ${String(requestTimeout)}`);
  }
  return { maxBodySize, bodyTimeout, requestTimeout, allowedHosts: compileHostList(o.allowedHosts) };
}
