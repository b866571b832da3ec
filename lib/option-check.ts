/**
 * Unknown option keys are API misuse: a JavaScript caller who writes
 * `maxPayload` (ws's name) or `perMessageDeflate` would otherwise get the
 * default silently. Every options object handed to `new App()`,
 * `app.websocket()` and `connect()` is checked once, when it is given (never
 * on a hot path), and an unknown key throws a UsageError naming the closest
 * known option.
 *
 * The known keys are `Record<keyof X, true>` tables: adding a field to an
 * options interface without listing it here fails the type check, so the
 * tables cannot drift from the types.
 */
import { UsageError } from '../errors';
import type { DeflateOptions } from '../frame/deflate-params';
import type { SocketOptions } from './options';
import type { WebSocketBehavior } from './websocket';
import type { HttpOptions } from './http';

/** Keys shared by route behaviours and connect(): socket limits. */
export const SOCKET_OPTION_KEYS: Record<keyof SocketOptions, true> = {
  maxPayloadLength: true,
  maxFragments: true,
  idleTimeout: true,
  sendPingsAutomatically: true,
  autoPong: true,
  maxBackpressure: true,
  closeOnBackpressureLimit: true,
  maxLifetime: true,
  closeTimeout: true,
  maxMessagesPerSecond: true,
  compression: true,
};

/** Event callbacks, shared by route behaviours and connect(). */
export const BEHAVIOR_KEYS: Record<keyof WebSocketBehavior, true> = {
  open: true,
  message: true,
  drain: true,
  ping: true,
  pong: true,
  close: true,
  dropped: true,
  subscription: true,
  gap: true,
  error: true,
};

export const HTTP_OPTION_KEYS: Record<keyof HttpOptions, true> = {
  maxBodySize: true,
  bodyTimeout: true,
  requestTimeout: true,
  allowedHosts: true,
};

export const DEFLATE_OPTION_KEYS: Record<keyof DeflateOptions | 'enabled', true> = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  serverMaxWindowBits: true,
  clientMaxWindowBits: true,
  threshold: true,
  level: true,
  memLevel: true,
  concurrencyLimit: true,
  enabled: true,
};

/**
 * Names other libraries use (ws, uWebSockets.js, socket.io) and what to use
 * instead; checked before the edit-distance guess, which cannot know them.
 */
const ALIASES: Record<string, string> = {
  maxPayload: 'maxPayloadLength',
  maxMessageSize: 'maxPayloadLength',
  maxReceivedMessageSize: 'maxPayloadLength',
  perMessageDeflate: 'compression',
  permessageDeflate: 'compression',
  deflate: 'compression',
  maxBackpressureLength: 'maxBackpressure',
  pingInterval: 'idleTimeout',
  pingTimeout: 'idleTimeout',
  verifyClient: 'upgrade',
  handleProtocols: 'upgrade',
  allowedOrigin: 'allowedOrigins',
  origins: 'allowedOrigins',
  onMessage: 'message',
  onOpen: 'open',
  onClose: 'close',
  onDrain: 'drain',
  protocol: 'protocols',
  subprotocols: 'protocols',
  timeout: 'handshakeTimeout',
  upgradeHandler: 'upgrade',
};

/** Options that belong to a WebSocket route (for the message when one is given to `new App()`). */
const ROUTE_LEVEL = new Set([...Object.keys(SOCKET_OPTION_KEYS), ...Object.keys(BEHAVIOR_KEYS), 'upgrade', 'allowedOrigins', 'publishToSelf', 'upgradeTimeout']);

/** Keys that mean something else in Xyra: the message says what. */
const ELSEWHERE: Record<string, string> = {
  port: 'pass the port to app.listen(port)',
  host: 'pass the host to app.listen(port, host)',
  path: 'give the path to app.websocket(path, behaviour)',
  server: 'attach to an existing server with app.handleUpgrade(req, socket, head)',
  noServer: 'use app.handleUpgrade(req, socket, head) without calling listen()',
  clientTracking: 'app.clients() lists the open sockets',
  ssl: "use the 'tls' option",
  cert_file_name: "use the 'tls' option ({ key, cert })",
  key_file_name: "use the 'tls' option ({ key, cert })",
};

/**
 * Throw a UsageError if `options` has an own key not in any of `known`.
 * `where` names the call in the message (`new App()`, `connect()`, ...).
 */
export function checkOptionKeys(options: object | null | undefined, where: string, ...known: Array<Record<string, true>>): void {
  if (options === null || options === undefined || typeof options !== 'object') return;
  for (const key of Object.keys(options)) {
    if (known.some((k) => Object.hasOwn(k, key))) continue;
    // An explicit undefined is how `{ ...defaults, x: maybe }` spreads look: harmless.
    if ((options as Record<string, unknown>)[key] === undefined) continue;
    throw new UsageError(unknownKeyMessage(key, where, known));
  }
}

/** The UsageError message for an unknown key: the alias or the closest known name. */
export function unknownKeyMessage(key: string, where: string, known: Array<Record<string, true>>): string {
  const names: string[] = [];
  for (const k of known) for (const n of Object.keys(k)) names.push(n);
  const head = `Unknown option '${key}' in ${where}`;
  const alias = ALIASES[key];
  if (alias !== undefined && names.includes(alias)) return `${head}: did you mean '${alias}'?`;
  // `new App({ maxPayloadLength })`: right name, wrong place.
  const routeName = ROUTE_LEVEL.has(key) ? key : alias !== undefined && ROUTE_LEVEL.has(alias) ? alias : undefined;
  if (routeName !== undefined && !names.includes(routeName)) {
    return `${head}: '${routeName}' is a per-route option: app.websocket(path, { ${routeName}, ... })`;
  }
  const elsewhere = ELSEWHERE[key];
  if (elsewhere !== undefined) return `${head}: ${elsewhere}`;
  const best = closest(key, names);
  return best !== null ? `${head}: did you mean '${best}'?` : `${head}. Known options: ${names.join(', ')}`;
}

/**
 * The known name nearest to `key` by edit distance (case-insensitive), if
 * near enough to be a typo: at most a third of the longer name's length.
 */
export function closest(key: string, names: string[]): string | null {
  const k = key.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const name of names) {
    const n = name.toLowerCase();
    let d = editDistance(k, n);
    // A known name contained in the key or vice versa (`maxPayloadLengthBytes`) is a strong hint.
    if (d > 2 && (n.includes(k) || k.includes(n))) d = 2;
    if (d < bestDistance) {
      bestDistance = d;
      best = name;
    }
  }
  if (best === null) return null;
  return bestDistance <= Math.max(2, Math.floor(Math.max(k.length, best.length) / 3)) ? best : null;
}

/** Levenshtein distance, two rows. */
export function editDistance(a: string, b: string): number {
  let prev = new Array<number>(b.length + 1);
  let cur = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    const t = prev;
    prev = cur;
    cur = t;
  }
  return prev[b.length];
}
