/**
 * What `connect(url, { reconnect })` takes (lib/reconnect.ts): the URL (or a
 * function giving one per attempt) and the options of a plain client less
 * its behaviour callbacks, checked once when given.
 */
import type { ClientOptions } from './client';
import type { WebSocket } from './websocket';
import { parseWebSocketUrl } from './handshake';
import { UsageError } from '../errors';
import type { ReconnectOptions } from './reconnect-policy';

/** The URL, or a function called before each attempt (0 for the first) that returns it, e.g. with `?since=<last position>`. */
export type UrlSource = string | ((attempt: number) => string | Promise<string>);

/** The behaviour callbacks of ClientOptions: a reconnecting client takes listeners (`on`) instead. */
type BehaviorKeys = 'open' | 'message' | 'drain' | 'ping' | 'pong' | 'close' | 'dropped' | 'subscription' | 'error';
const BEHAVIOR_KEYS: readonly BehaviorKeys[] = ['open', 'message', 'drain', 'ping', 'pong', 'close', 'dropped', 'subscription', 'error'];

/** Options of `connect(url, { reconnect })`: those of a plain client, less the behaviour callbacks. */
export interface ReconnectingClientOptions<UserData = any> extends Omit<ClientOptions<UserData>, BehaviorKeys> {
  /** Reconnect settings, or `true` for the defaults. */
  reconnect: ReconnectOptions | true;
}

/** Opens one connection: lib/client.ts's connect, passed in to keep the modules acyclic. */
export type ConnectOnce = <U>(url: string, options: ClientOptions<U>) => Promise<WebSocket<U>>;

/**
 * Refuse what can never work, before any attempt: an aborted signal, a bad
 * URL string, a url that is neither string nor function, a behaviour
 * callback (UsageError naming the listener to use instead).
 */
export function checkReconnecting(url: UrlSource, options: ReconnectingClientOptions): void {
  if (options.signal?.aborted) throw options.signal.reason instanceof Error ? options.signal.reason : new Error('Aborted');
  if (typeof url === 'string') parseWebSocketUrl(url);
  else if (typeof url !== 'function') throw new UsageError('url must be a string or a function returning one');
  for (const key of BEHAVIOR_KEYS) {
    if (typeof (options as unknown as Record<string, unknown>)[key] === 'function') {
      throw new UsageError(`A reconnecting client takes listeners, not the '${key}' callback option: use ws.on('${key}', ...)`);
    }
  }
}
