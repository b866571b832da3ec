/**
 * What a WebSocket needs from whoever made it: the App's RouteOwner
 * (lib/metrics.ts) for a server socket, a ClientOwner (lib/client.ts) for a
 * client; and, on a server, the App's pub/sub.
 */
import type { SubscribeOptions } from '../../pubsub';
import type { RecoverOptions, RecoveryResult } from '../recovery';
import type { Sweeper } from '../sweeper';
import type { WebSocket } from '../websocket';
import type { SendData } from './behavior';

/** What a WebSocket needs from its owner for pub/sub (the App's broker). */
export interface PubSubHub {
  subscribe(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean;
  unsubscribe(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean;
  unsubscribeAll(ws: WebSocket): void;
  isSubscribed(ws: WebSocket, topic: string, options: SubscribeOptions | undefined): boolean;
  topicsOf(ws: WebSocket): string[];
  publishFrom(ws: WebSocket, topic: string, data: SendData, isBinary: boolean | undefined, compress: boolean | undefined): boolean;
  /** `subscribe(topic, { since })` (README: Recovery). */
  recover(ws: WebSocket, topic: string, options: RecoverOptions, finished: boolean): Promise<RecoveryResult>;
}

/** Owner hooks: a server keeps its set of sockets, a client has none. */
export interface WebSocketOwner {
  readonly sweeper: Sweeper;
  readonly hub: PubSubHub | null;
  /** Called once when the socket is fully closed. */
  removeSocket(ws: WebSocket): void;
  /** Report errors thrown by handlers. */
  reportError(ws: WebSocket, err: Error): void;
  /** Traffic counters (App.stats()), or null when nobody counts. */
  counters: { messagesIn: number; messagesOut: number; bytesIn: number; bytesOut: number; drops: number } | null;
}
