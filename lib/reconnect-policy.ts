/**
 * The reconnecting client's policy, without I/O: options with bounded
 * defaults, the backoff (exponential with full jitter), and which
 * disconnections are worth another attempt. lib/reconnect.ts adds the
 * sockets and the timer; browser/xyra-client.ts carries a copy of these
 * formulas (it must be one file a page can load), and
 * spec/lib/reconnect-policy.test.ts runs the same tables against both.
 */
import { CloseCode } from '../frame/close-codes';
import { UsageError } from '../errors';

/** `connect(url, { reconnect: {...} })`: how to reconnect and how much to hold meanwhile. */
export interface ReconnectOptions {
  /** Backoff cap of the first attempt, in ms. Default 1000. */
  minDelay?: number;
  /** Largest backoff cap, in ms. Default 30000. */
  maxDelay?: number;
  /** Growth of the cap per consecutive failed attempt. Default 2. */
  factor?: number;
  /**
   * Share of the cap that is random, 0 to 1: the delay is
   * `cap * (1 - jitter * random())`. Default 1, "full jitter": uniform in
   * (0, cap], which spreads a crowd of clients dropped at once by a deploy.
   */
  jitter?: number;
  /** Consecutive failed attempts before giving up ('close'). Default Infinity. */
  maxAttempts?: number;
  /** Bytes of messages held while disconnected; past it send() returns DROPPED. Default 1 MiB. */
  maxQueue?: number;
  /**
   * Decide whether to try again after a disconnection or a failed attempt.
   * Default {@link defaultShouldReconnect}; call it from yours to change
   * only some cases. `maxAttempts` still applies. A hook that throws counts as false.
   */
  shouldReconnect?(info: DisconnectInfo): boolean;
}

/** Why a connection ended or an attempt failed; given to shouldReconnect, 'reconnecting' and the final 'close'. */
export interface DisconnectInfo {
  /** The server's close code; 1006 when the connection dropped or the attempt failed before opening. */
  code: number;
  /** The server's close reason, or ''. */
  reason: string;
  /** The HTTP status when the server rejected the opening handshake (401, 503...). */
  statusCode?: number;
  /** Why the attempt failed: a socket error (ECONNREFUSED), a HandshakeError, an error of the url function. */
  error?: Error;
  /** True when the connection had opened (it dropped or was closed), false when the attempt never opened. */
  wasOpen: boolean;
  /** The number the next attempt would have: consecutive failed attempts so far, plus one. */
  attempt: number;
}

/** Options with every default filled in, checked once. */
export interface ResolvedReconnectOptions {
  minDelay: number;
  maxDelay: number;
  factor: number;
  jitter: number;
  maxAttempts: number;
  maxQueue: number;
  shouldReconnect: (info: DisconnectInfo) => boolean;
}

export const DEFAULT_RECONNECT = Object.freeze({
  minDelay: 1000,
  maxDelay: 30_000,
  factor: 2,
  jitter: 1,
  maxAttempts: Infinity,
  maxQueue: 1024 * 1024,
});

/**
 * Close codes after which the server expects the client back (RFC 6455
 * 7.4.1 and the IANA registry, 11.7): 1001 going away (a server shutting
 * down), 1006 dropped without a close frame, 1011 internal error, 1012
 * service restart, 1013 try again later, 1014 bad gateway. Everything else
 * (1000, 1005, protocol and policy errors, 3000-4999 application codes) was
 * meant, and trying again would repeat it.
 */
const RETRY_CODES: readonly number[] = [
  CloseCode.GOING_AWAY,
  CloseCode.ABNORMAL,
  CloseCode.INTERNAL_ERROR,
  CloseCode.SERVICE_RESTART,
  CloseCode.TRY_AGAIN_LATER,
  CloseCode.BAD_GATEWAY,
];

/**
 * The default decision. A rejected handshake: only 5xx is retried (a 4xx such
 * as 401 or 403 will be answered the same way next time; 3xx redirects are not
 * followed). A URL that does not parse (SyntaxError) or a UsageError stop.
 * Any other failure to connect (refused, reset, timed out, DNS) is retried,
 * and a closed connection is retried for the codes listed above.
 */
export function defaultShouldReconnect(info: DisconnectInfo): boolean {
  if (info.statusCode !== undefined) return info.statusCode >= 500;
  const error = info.error;
  // By name: errors may come from another realm (node:vm), and the browser module shares this rule.
  if (error !== undefined) return !(error.name === 'SyntaxError' || error.name === 'UsageError');
  return RETRY_CODES.indexOf(info.code) !== -1;
}

/**
 * The backoff cap of attempt `attempt` (1 for the first retry):
 * `min(maxDelay, minDelay * factor^(attempt - 1))`, computed without
 * overflowing to Infinity or NaN for large attempts.
 */
export function backoffCap(attempt: number, o: Pick<ResolvedReconnectOptions, 'minDelay' | 'maxDelay' | 'factor'>): number {
  let cap = o.minDelay;
  for (let i = 1; i < attempt && cap < o.maxDelay; i++) cap *= o.factor;
  return cap < o.maxDelay ? cap : o.maxDelay;
}

/**
 * The delay before attempt `attempt`, given `random` in [0, 1):
 * `cap * (1 - jitter * random)`, rounded to whole ms. With full jitter
 * (AWS's "Exponential Backoff And Jitter") it is uniform over the cap.
 */
export function backoffDelay(
  attempt: number,
  o: Pick<ResolvedReconnectOptions, 'minDelay' | 'maxDelay' | 'factor' | 'jitter'>,
  random: number,
): number {
  const cap = backoffCap(attempt, o);
  return Math.round(cap * (1 - o.jitter * random));
}

/** Fill in defaults and check ranges once; a bad value is a UsageError. */
export function resolveReconnectOptions(options: ReconnectOptions | true): ResolvedReconnectOptions {
  const o: ReconnectOptions = options === true ? {} : options;
  if (o === null || typeof o !== 'object') throw new UsageError('reconnect must be true or an options object');
  const minDelay = num(o.minDelay, DEFAULT_RECONNECT.minDelay, 'minDelay', 0);
  const maxDelay = num(o.maxDelay, Math.max(DEFAULT_RECONNECT.maxDelay, minDelay), 'maxDelay', minDelay);
  const factor = num(o.factor, DEFAULT_RECONNECT.factor, 'factor', 1);
  const jitter = num(o.jitter, DEFAULT_RECONNECT.jitter, 'jitter', 0);
  if (jitter > 1) throw new UsageError('reconnect.jitter must be between 0 and 1');
  const maxAttempts = o.maxAttempts === Infinity ? Infinity : num(o.maxAttempts, DEFAULT_RECONNECT.maxAttempts, 'maxAttempts', 0);
  if (maxAttempts !== Infinity && !Number.isInteger(maxAttempts)) throw new UsageError('reconnect.maxAttempts must be an integer or Infinity');
  const maxQueue = num(o.maxQueue, DEFAULT_RECONNECT.maxQueue, 'maxQueue', 0);
  const hook = o.shouldReconnect;
  if (hook !== undefined && typeof hook !== 'function') throw new UsageError('reconnect.shouldReconnect must be a function');
  return { minDelay, maxDelay, factor, jitter, maxAttempts, maxQueue, shouldReconnect: hook ?? defaultShouldReconnect };
}

function num(value: number | undefined, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new UsageError(`reconnect.${name} must be a finite number >= ${min}, got ${String(value)}`);
  }
  return value;
}
