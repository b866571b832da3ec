/**
 * Xyra: a WebSocket server and client for Node.js in pure TypeScript.
 * RFC 6455 and RFC 7692 from raw sockets, pub/sub with topic wildcards, and
 * the Xyra `App` facade.
 */
export { App } from './lib/app';
export type { AppOptions, AppBehavior, RouteOptions, UpgradeRequest, UpgradeResponse, AppStats, TrafficStats, RejectedRequest, CloseOptions, ListenOptions } from './lib/app';
export { connect, HandshakeError } from './lib/client';
export type { ClientOptions } from './lib/client';
export { ReconnectingWebSocket, defaultShouldReconnect, backoffCap, backoffDelay } from './lib/reconnect';
export type { ReconnectingClientOptions, ReconnectOptions, DisconnectInfo, UrlSource } from './lib/reconnect';
export { serveBrowserClient } from './lib/browser-client';
export { WebSocket, ReadyState, SendStatus } from './lib/websocket';
export type { WebSocketBehavior, SendData } from './lib/websocket';
export type { SocketOptions } from './lib/options';
export { HttpError } from './lib/http';
export type { HttpRequest, HttpResponse, HttpRouteHandler, HttpOptions } from './lib/http';
export { OpCode } from './frame/opcode';
export { CloseCode } from './frame/close-codes';
export { ProtocolError, UsageError } from './errors';
export { TopicTrie, InMemoryBroker } from './pubsub';
export type { Broker, SubscribeOptions } from './pubsub';
export { BusError } from './lib/bus';
export type { Bus, BusSink, BusStatus, BusErrorKind, BusGapInfo, BusHistory, BusEntry } from './lib/bus';
export type { RecoveryResult, RecoverOptions, RecoveryFailure, Envelope } from './lib/recovery';
export type { HistoryOptions } from './lib/history/options';
