/**
 * Who may talk to the App, sans-I/O: the `Origin` policy of WebSocket routes
 * (cross-site WebSocket hijacking, RFC 6455 10.2) and the `Host` allowlist
 * (DNS rebinding). Strings in, verdicts out; lists are checked and normalised
 * once, when a route or the App is created.
 *
 * Decisions:
 * - Origins compare as RFC 6454 4 tuples: scheme, host and port, with the
 *   default port of the scheme filled in (`https://a.example` and
 *   `https://a.example:443` are one origin; `http://a.example` is another).
 * - An explicit list replaces the same-host default: with
 *   `['https://app.example.com']`, `Origin: http://evil.com` + `Host: evil.com`
 *   (what a DNS-rebinding page sends) is refused.
 * - The same-host default compares the Origin's host and port with `Host`
 *   (default port from the Origin's scheme). It cannot compare schemes: behind
 *   a TLS-terminating proxy the server does not know the page's scheme.
 * - A function policy decides alone, also when the request has no Origin
 *   (it is then called with `undefined`).
 * - `Host` entries are host names or IP literals, matched case-insensitively;
 *   a port in an entry must match the port in `Host`, an entry without one
 *   matches any port; a leading dot (`.example.com`) also matches every
 *   subdomain.
 */
import type { UpgradeRequest } from './app';
import { UsageError } from '../errors';

/** The `allowedOrigins` route option. */
export type AllowedOrigins = string[] | ((origin: string | undefined, req: UpgradeRequest) => boolean);

/** A route's origin policy, prepared by {@link compileOriginPolicy}. */
export interface OriginPolicy {
  /** `['*']`: every origin. */
  readonly any: boolean;
  /** Normalised allowed origins (plus a literal `null` if listed); null: not a list. */
  readonly origins: ReadonlySet<string> | null;
  /** The user's function; null: not a function. */
  readonly fn: ((origin: string | undefined, req: UpgradeRequest) => boolean) | null;
}

const SAME_HOST: OriginPolicy = { any: false, origins: null, fn: null };
const ANY: OriginPolicy = { any: true, origins: null, fn: null };

/** Default port per scheme (WHATWG URL "special schemes" that a browser sends in Origin). */
function defaultPort(scheme: string): string {
  return scheme === 'https' || scheme === 'wss' ? '443' : scheme === 'http' || scheme === 'ws' ? '80' : '';
}

/** RFC 3986 3.2.2 reg-name characters (unreserved, pct-encoded, sub-delims). */
const REG_NAME = /^[A-Za-z0-9\-._~%!$&'()*+,;=]+$/;
const IPV6 = /^\[[0-9A-Fa-f:.]+\]$/;
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

/** Host and port of an authority `host[:port]`, host lower-cased, port without leading zeros ('' if none); null if malformed. */
export function parseHostPort(value: string): { host: string; port: string } | null {
  let host: string;
  let rest: string;
  if (value.charCodeAt(0) === 0x5b /* [ */) {
    const close = value.indexOf(']');
    if (close < 0) return null;
    host = value.slice(0, close + 1);
    rest = value.slice(close + 1);
    if (!IPV6.test(host)) return null;
  } else {
    const colon = value.indexOf(':');
    host = colon < 0 ? value : value.slice(0, colon);
    rest = colon < 0 ? '' : value.slice(colon);
    if (!REG_NAME.test(host)) return null;
  }
  let port = '';
  if (rest !== '') {
    // RFC 3986 3.2.3: port = *DIGIT (an empty port means the default).
    if (rest.charCodeAt(0) !== 0x3a || rest.length > 6 || !/^:[0-9]*$/.test(rest)) return null;
    if (rest.length > 1) {
      const n = Number(rest.slice(1));
      if (n > 65535) return null;
      port = String(n);
    }
  }
  return { host: host.toLowerCase(), port };
}

/** `scheme://host[:port]`, lower-cased, default port dropped; null unless `value` is a serialised origin (one trailing '/' tolerated). */
export function normalizeOrigin(value: string): string | null {
  const sep = value.indexOf('://');
  if (sep <= 0) return null;
  const scheme = value.slice(0, sep).toLowerCase();
  if (!SCHEME.test(scheme)) return null;
  let authority = value.slice(sep + 3);
  if (authority.endsWith('/')) authority = authority.slice(0, -1);
  const hp = parseHostPort(authority);
  if (hp === null) return null;
  const port = hp.port === defaultPort(scheme) ? '' : hp.port;
  return scheme + '://' + hp.host + (port === '' ? '' : ':' + port);
}

/** Check and prepare the `allowedOrigins` option once. Throws UsageError on an entry that is not an origin. */
export function compileOriginPolicy(policy: AllowedOrigins | undefined): OriginPolicy {
  if (policy === undefined) return SAME_HOST;
  if (typeof policy === 'function') return { any: false, origins: null, fn: policy };
  if (!Array.isArray(policy)) throw new UsageError('allowedOrigins must be an array of origins or a function');
  const origins = new Set<string>();
  for (const entry of policy) {
    if (entry === '*') return ANY;
    if (typeof entry !== 'string') throw new UsageError(`allowedOrigins: not a string: ${String(entry)}`);
    // RFC 6454 7.1: an opaque origin is sent as "null"; allowed only when listed literally.
    const n = entry === 'null' ? 'null' : normalizeOrigin(entry);
    if (n === null) {
      throw new UsageError(`allowedOrigins: ${JSON.stringify(entry)} is not an origin (scheme://host[:port], e.g. "https://app.example.com")`);
    }
    origins.add(n);
  }
  return { any: false, origins, fn: null };
}

/**
 * The origin verdict for an upgrade request. `origin` is the Origin header
 * (undefined if absent), `host` the Host header. May throw what a function
 * policy throws.
 */
export function originAllowed(policy: OriginPolicy, origin: string | undefined, host: string | undefined, req: UpgradeRequest): boolean {
  if (policy.fn !== null) return policy.fn(origin, req);
  // No Origin: not a browser (browsers always send one with a WebSocket request).
  if (origin === undefined || policy.any) return true;
  if (policy.origins !== null) {
    const n = origin === 'null' ? 'null' : normalizeOrigin(origin);
    return n !== null && policy.origins.has(n);
  }
  // Same-host default: the Origin's host and port against Host, default port from the Origin's scheme.
  if (host === undefined) return false;
  const sep = origin.indexOf('://');
  if (sep <= 0) return false;
  const scheme = origin.slice(0, sep).toLowerCase();
  let authority = origin.slice(sep + 3);
  if (authority.endsWith('/')) authority = authority.slice(0, -1);
  const o = parseHostPort(authority);
  const h = parseHostPort(host);
  if (o === null || h === null) return false;
  const dp = defaultPort(scheme);
  return o.host === h.host && (o.port || dp) === (h.port || dp);
}

/** A Host allowlist, prepared by {@link compileHostList}. */
export interface HostList {
  /** [host or '.domain', port or ''] per entry. */
  readonly entries: ReadonlyArray<readonly [string, string]>;
}

/** Check and prepare an `allowedHosts` option once; undefined stays undefined (any Host). Throws UsageError. */
export function compileHostList(list: string[] | undefined): HostList | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) throw new UsageError('allowedHosts must be an array of host names');
  const entries: Array<readonly [string, string]> = [];
  for (const entry of list) {
    if (typeof entry !== 'string') throw new UsageError(`allowedHosts: not a string: ${String(entry)}`);
    const dot = entry.charCodeAt(0) === 0x2e;
    const hp = parseHostPort(dot ? entry.slice(1) : entry);
    if (hp === null || (dot && hp.host.charCodeAt(0) === 0x5b)) {
      throw new UsageError(`allowedHosts: ${JSON.stringify(entry)} is not a host name (e.g. "app.example.com", ".example.com", "localhost:8000")`);
    }
    entries.push([dot ? '.' + hp.host : hp.host, hp.port]);
  }
  return { entries };
}

/** True when the Host header value is in the list (see the file comment). A missing or malformed Host never is. */
export function hostAllowed(list: HostList, host: string | undefined): boolean {
  if (host === undefined) return false;
  const hp = parseHostPort(host);
  if (hp === null) return false;
  const entries = list.entries;
  for (let i = 0; i < entries.length; i++) {
    const name = entries[i][0];
    const port = entries[i][1];
    if (port !== '' && port !== hp.port) continue;
    if (name === hp.host) return true;
    // '.example.com': the domain itself and any subdomain.
    if (name.charCodeAt(0) === 0x2e && (hp.host === name.slice(1) || hp.host.endsWith(name))) return true;
  }
  return false;
}
