/**
 * WebSocket URLs for the client (RFC 6455 3): `ws://`, `wss://` (and the
 * `http(s)://` spellings), and ws's `ws+unix:` notation for Unix sockets.
 */

/** A WebSocket URL resolved for connecting. */
export interface WebSocketUrl {
  /** wss: / https: */
  secure: boolean;
  /** Host to connect to; an IPv6 literal without brackets (as net.connect wants). */
  host: string;
  port: number;
  /** request-target: path plus query, at least '/'. */
  path: string;
  /** Host header value: host, IPv6 in brackets, ':port' only when not the default. */
  hostHeader: string;
  /** 'user:password' from the URL's userinfo, percent-decoded, for Basic auth; undefined if none. */
  auth: string | undefined;
  /** `ws+unix:` / `wss+unix:`: the Unix domain socket to connect to (host and port are then unused). */
  socketPath?: string;
}

/**
 * Parse a ws:// or wss:// URL (http:// and https:// are mapped to them) per
 * RFC 6455 3 and the WHATWG WebSocket constructor: default ports 80 / 443,
 * IPv6 literals in brackets, fragments refused. Throws SyntaxError (as the
 * WebSocket constructor does) for an unparsable URL, another scheme, a
 * fragment (even empty: `ws://h/#`), or an empty host.
 */
export function parseWebSocketUrl(url: string): WebSocketUrl {
  if (typeof url === 'string' && /^wss?\+unix:/i.test(url)) return parseUnixUrl(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SyntaxError(`Invalid URL: ${url}`);
  }
  let secure: boolean;
  switch (u.protocol) {
    case 'ws:':
    case 'http:':
      secure = false;
      break;
    case 'wss:':
    case 'https:':
      secure = true;
      break;
    default:
      throw new SyntaxError(`The URL's scheme must be ws or wss, got ${u.protocol}`);
  }
  // RFC 6455 3: "Fragment identifiers are meaningless ... MUST NOT be used";
  // a '#' can only start a fragment once the URL has parsed.
  if (u.hash !== '' || url.indexOf('#') !== -1) throw new SyntaxError('WebSocket URLs cannot have a fragment');
  const hostname = u.hostname;
  if (hostname === '') throw new SyntaxError(`The URL has no host: ${url}`);
  const port = u.port === '' ? (secure ? 443 : 80) : Number(u.port);
  const host = hostname.charCodeAt(0) === 0x5b ? hostname.slice(1, -1) : hostname;
  const auth =
    u.username !== '' || u.password !== ''
      ? decodeURIComponent(u.username) + ':' + decodeURIComponent(u.password)
      : undefined;
  return {
    secure,
    host,
    port,
    path: (u.pathname === '' ? '/' : u.pathname) + u.search,
    // WHATWG URL already drops a default port, so u.host is exactly the RFC 6455 4.1 item 4 Host value.
    hostHeader: u.host,
    auth,
  };
}

/**
 * `ws+unix:///path/to.sock:/route?query` (ws's notation): the socket path,
 * then `:` and the request target (default `/`). Host header `localhost`.
 */
function parseUnixUrl(url: string): WebSocketUrl {
  const secure = url[2] === 's' || url[2] === 'S';
  const rest = url.slice(url.indexOf(':') + 1).replace(/^\/\//, '');
  const colon = rest.indexOf(':');
  const socketPath = colon < 0 ? rest : rest.slice(0, colon);
  let path = colon < 0 ? '/' : rest.slice(colon + 1);
  if (socketPath.length === 0) throw new SyntaxError(`The URL has no socket path: ${url}`);
  if (path === '') path = '/';
  if (path[0] !== '/') throw new SyntaxError(`The request path after the socket path must start with '/': ${url}`);
  if (path.indexOf('#') !== -1) throw new SyntaxError('WebSocket URLs cannot have a fragment');
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw new SyntaxError(`Invalid character in the request path: ${url}`);
  }
  return { secure, host: 'localhost', port: 0, path, hostHeader: 'localhost', auth: undefined, socketPath };
}
