/**
 * `xyra/redis`: pub/sub across processes and hosts on Redis Streams.
 *
 * ```ts
 * import { App } from 'xyra';
 * import { RedisBus } from 'xyra/redis';
 * const app = new App({ bus: new RedisBus({ url: 'redis://127.0.0.1:6379' }) });
 * ```
 * The Redis client (`redis` or `ioredis`) is an optional peer dependency,
 * loaded only here and only when a URL is given.
 */
export { RedisBus } from './bus';
export type { RedisBusOptions } from './bus';
/** What a `gap` event carries (also the App's BusError detail and the route hook `gap(ws, info)`). */
export type { BusGapInfo as GapInfo } from '../bus';
export type { RedisLibrary } from './client';
export { BusError } from '../bus';
export type { Bus, BusSink, BusStatus, BusErrorKind, BusGapInfo } from '../bus';
